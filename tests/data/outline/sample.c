#include <stdio.h>
#define MAX 10

struct point { int x; };
typedef struct point point_t;

/* Adds two ints. */
int add(int a, int b) { return a + b; }

char *name(void);
