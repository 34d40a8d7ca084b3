/* SPDX-License-Identifier: MIT */
/*
 * fmacros.h - the first header every lethe source includes.
 *
 * It fixes the feature-test macros so every file sees the same libc, and
 * poisons the string functions our style bans (see docs/internals/util.md):
 * use snprintf, memcpy with explicit lengths, strtol/strtoll with checks.
 */
#ifndef LETHE_FMACROS_H
#define LETHE_FMACROS_H

#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE 1

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <string.h>
#include <stdio.h>
#include <stdlib.h>

#if defined(__GNUC__) && !defined(LETHE_NO_POISON)
#pragma GCC poison sprintf vsprintf strcpy strcat strncpy gets atoi atol strtok
#endif

#endif /* LETHE_FMACROS_H */
