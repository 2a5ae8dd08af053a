/*
 * tcp_state.h - the connection states a passive-open server reaches (RFC 9293 section
 * 3.3.2) and the events that move between them, as a transition table (tcp_state.c).
 *
 * Invariant: the state of a connection changes only through tcp_next(); an event that is
 * not in the table for a state leaves it unchanged (tcp_next returns TCP_NONE) and the
 * caller decides whether that is an error.
 */
#ifndef SSDK_TCP_STATE_H
#define SSDK_TCP_STATE_H
#include <stdint.h>

enum tcp_state {
    TCP_NONE = 0,        /* not a state: "no transition" */
    TCP_SYN_RECEIVED,
    TCP_ESTABLISHED,
    TCP_CLOSE_WAIT,      /* peer sent FIN; we may still be sending */
    TCP_LAST_ACK,        /* then we sent ours */
    TCP_FIN_WAIT_1,      /* we sent FIN first */
    TCP_FIN_WAIT_2,
    TCP_CLOSING,         /* both sent FIN at once */
    TCP_TIME_WAIT,
    TCP_CLOSED,          /* the slot goes back to the pool */
    TCP_NSTATES
};

enum tcp_event {
    EV_ACK_OF_SYN,       /* the ACK that completes the handshake */
    EV_RCV_FIN,          /* the peer's FIN, in order */
    EV_SND_FIN,          /* we queue our FIN */
    EV_FIN_ACKED,        /* the peer acknowledges our FIN */
    EV_NEVENTS
};

enum tcp_state tcp_next(enum tcp_state s, enum tcp_event ev);
/* Whether from -> to is a move of the table, or one out of listening (TCP_NONE: no
 * connection yet). Checked by conn_set_state (tcp_priv.h) in debug builds. */
int tcp_move_ok(enum tcp_state from, enum tcp_state to);
const char *tcp_state_name(enum tcp_state s);

#endif
