/*
 * clock.h - the monotonic clock in microseconds, and a wait in microseconds as the
 * timespec that ppoll() and nanosleep() take. For the loops that sleep between passes:
 * serve/loop.c (the engine) and nic/bridge.c (ssdk impair).
 */
#ifndef SSDK_CLOCK_H
#define SSDK_CLOCK_H
#include <stdint.h>
#include <time.h>

static inline uint64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static inline struct timespec us_timespec(uint64_t us)
{
    return (struct timespec){.tv_sec = (time_t)(us / 1000000u),
                             .tv_nsec = (long)(us % 1000000u) * 1000L};
}

#endif
