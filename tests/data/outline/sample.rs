use std::fmt;

pub const MAX: u32 = 10;

/// A point in space.
pub struct Point { x: i32 }

pub trait Shape { fn area(&self) -> f64; }

impl Point {
    /// Makes a point.
    pub fn new(x: i32) -> Self { Point { x } }
}

fn helper() {}
