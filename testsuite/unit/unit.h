/*
 * unit.h -- common includes for the cmocka unit tests.
 * cmocka needs these system headers before <cmocka.h>.
 */
#ifndef MC_UNIT_H
#define MC_UNIT_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#endif
