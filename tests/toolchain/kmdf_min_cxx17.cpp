// S15.6: the KMDF driver of kmdf_min.c as C++17.
#include "kmdf_min.c"
