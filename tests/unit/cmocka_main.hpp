// Includes cmocka in the order it needs (it expects these C headers before its own). Include
// it after every other header: its fail() macro clashes with the standard library.
#pragma once

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

extern "C" {
#include <cmocka.h>
}
