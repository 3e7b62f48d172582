/* lib.h - the small library whose tests fail until its bugs are fixed. */
#ifndef LIB_H
#define LIB_H
int lib_add(int a, int b);
int lib_max(int a, int b);
int lib_abs(int a);
int lib_clamp(int v, int lo, int hi);
int lib_is_even(int n);
int lib_count(const char *s, char c);
long lib_fact(int n);
int lib_gcd(int a, int b);
#endif
