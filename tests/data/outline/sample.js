import { readFile } from "fs";
const LIMIT = 5;

/** Add two numbers. */
function add(a, b) {
  return a + b;
}

// Multiplies.
const mul = (a, b) => a * b;

class Shape {
  area() { return 0; }
}
