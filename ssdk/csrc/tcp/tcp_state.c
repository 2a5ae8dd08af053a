/*
 * tcp_state.c - RFC 9293 section 3.3.2 for a server, as data.
 *
 * tcp_in.c / tcp_out.c / tcp_timer.c -> tcp_next()
 *
 * Rows are states, columns events; 0 (TCP_NONE) means the event does not move the
 * state. The server never opens actively, so SYN-SENT and LISTEN have no rows: listening
 * is the absence of a connection, and a SYN makes one in SYN-RECEIVED.
 */
#include "tcp/tcp_state.h"

static const uint8_t next_state[TCP_NSTATES][EV_NEVENTS] = {
    [TCP_SYN_RECEIVED] = { [EV_ACK_OF_SYN] = TCP_ESTABLISHED },
    [TCP_ESTABLISHED]  = { [EV_RCV_FIN] = TCP_CLOSE_WAIT, [EV_SND_FIN] = TCP_FIN_WAIT_1 },
    [TCP_CLOSE_WAIT]   = { [EV_SND_FIN] = TCP_LAST_ACK },
    [TCP_LAST_ACK]     = { [EV_FIN_ACKED] = TCP_CLOSED },
    [TCP_FIN_WAIT_1]   = { [EV_FIN_ACKED] = TCP_FIN_WAIT_2, [EV_RCV_FIN] = TCP_CLOSING },
    [TCP_FIN_WAIT_2]   = { [EV_RCV_FIN] = TCP_TIME_WAIT },
    [TCP_CLOSING]      = { [EV_FIN_ACKED] = TCP_TIME_WAIT },
};

static const char *const names[TCP_NSTATES] = {
    "NONE", "SYN-RECEIVED", "ESTABLISHED", "CLOSE-WAIT", "LAST-ACK",
    "FIN-WAIT-1", "FIN-WAIT-2", "CLOSING", "TIME-WAIT", "CLOSED",
};

/* The state after ev, or TCP_NONE when ev does not apply in s. */
enum tcp_state tcp_next(enum tcp_state s, enum tcp_event ev)
{
    if ((unsigned)s >= TCP_NSTATES || (unsigned)ev >= EV_NEVENTS)
        return TCP_NONE;
    return (enum tcp_state)next_state[s][ev];
}

/* A SYN makes a connection in SYN-RECEIVED; the ACK of a valid SYN cookie makes one in
 * ESTABLISHED, SYN-RECEIVED and its ACK_OF_SYN at once (syncookie.c). Every other move
 * is an event of the table. Leaving the table (conn_free) is no state change. */
int tcp_move_ok(enum tcp_state from, enum tcp_state to)
{
    if (from == TCP_NONE)
        return to == TCP_SYN_RECEIVED || to == TCP_ESTABLISHED;
    for (int ev = 0; ev < EV_NEVENTS; ev++)
        if (to != TCP_NONE && tcp_next(from, (enum tcp_event)ev) == to)
            return 1;
    return 0;
}

const char *tcp_state_name(enum tcp_state s)
{
    return (unsigned)s < TCP_NSTATES ? names[s] : "?";
}
