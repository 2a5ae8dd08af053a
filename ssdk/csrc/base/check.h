/*
 * check.h - assertions on the invariants the comments state, for debug builds only.
 *
 * SSDK_ASSERT(cond) checks cond where SSDK_DEBUG is defined: the sanitizer build
 * (scripts/sanitize-stack) and the fuzzers (fuzz/build.sh) define it, the release build
 * (ssdk/_ffi_build.py) never does. A failure prints file, line, function and the
 * condition to stderr and aborts, so AddressSanitizer and libFuzzer report it with a
 * stack and keep the input. Without SSDK_DEBUG the condition is not evaluated (sizeof
 * only marks its variables used) and the release build's code is unchanged.
 *
 * SSDK_DEBUG_ONLY(stmt) runs a whole-structure check (a walk of a list or a table) in
 * debug builds; otherwise it is compiled (so it stays correct C) as dead code, and
 * emitted as nothing. Cheap checks only on hot paths.
 */
#ifndef SSDK_CHECK_H
#define SSDK_CHECK_H

#ifdef SSDK_DEBUG
#include <stdio.h>
#include <stdlib.h>

__attribute__((noreturn, cold)) static inline void ssdk_assert_fail(const char *cond,
                                                                    const char *file,
                                                                    int line,
                                                                    const char *func)
{
    fprintf(stderr, "%s:%d: %s: SSDK_ASSERT failed: %s\n", file, line, func, cond);
    fflush(stderr);
    abort();
}

#define SSDK_ASSERT(cond) \
    ((cond) ? (void)0 : ssdk_assert_fail(#cond, __FILE__, __LINE__, __func__))
#define SSDK_DEBUG_ONLY(stmt) do { stmt; } while (0)
#else
#define SSDK_ASSERT(cond) ((void)sizeof((cond) ? 1 : 0))
#define SSDK_DEBUG_ONLY(stmt) do { if (0) { stmt; } } while (0)  /* checked, never run */
#endif

#endif
