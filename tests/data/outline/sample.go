package shapes

import "math"

const Pi = 3.14

// Circle is round.
type Circle struct{ R float64 }

// Area returns the area.
func (c *Circle) Area() float64 { return math.Pi * c.R * c.R }

func New(r float64) *Circle { return &Circle{r} }
