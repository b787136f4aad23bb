import { Thing } from "./thing";

export interface Point { x: number; y: number }
type Id = string;
enum Color { Red, Green }

/** A circle. */
export class Circle {
  radius(): number { return 1; }
}

export function make(id: Id): Point {
  return { x: 0, y: 0 };
}
