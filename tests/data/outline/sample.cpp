#include <vector>

namespace geo {
class Circle {
 public:
  double area() const;
  double r;
};

double Circle::area() const { return 3.14 * r * r; }
}

int twice(int x) { return 2 * x; }
