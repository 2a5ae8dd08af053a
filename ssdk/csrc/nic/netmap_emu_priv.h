/*
 * netmap_emu_priv.h - the inside of the netmap emulation (netmap_emu.c: the ring rules
 * and the system calls; netmap_emu_mem.c: its memory region and its wire). Tests only.
 */
#ifndef SSDK_NETMAP_EMU_PRIV_H
#define SSDK_NETMAP_EMU_PRIV_H
#include <stddef.h>
#include <stdint.h>
#include "nic/netmap_abi.h"
#include "ssdk.h"

#define EMU_BUF 2048u    /* bytes of a buffer: netmap's default (netmap(4), buf_size) */
#define EMU_FDS 8        /* descriptors open at once */
#define EMU_MAGIC 0x6e6d656du

/* Frames on the emulated wire, oldest first; it grows as needed. */
struct wire {
    uint8_t *data;       /* cap frames of EMU_BUF bytes */
    uint16_t *len;
    uint32_t head, count, cap;
};

/* The kernel's own view of one ring, which the user cannot touch. */
struct kring {
    struct nm_ring *r;
    uint32_t hwcur;      /* the head the kernel last took */
    uint32_t hwtail;     /* the tail it last gave */
    uint32_t hwdone;     /* TX: the oldest slot the NIC has not sent yet */
};

struct emu_fd {
    int fd;              /* an eventfd; -1: free */
    int bound, mapped, no_tx_poll, signalled;
    uint32_t ring;
};

struct ssdk_netmap_emu {
    uint32_t magic;
    struct ssdk_netmap_sys sys;
    char name[NM_IFNAMSIZ];
    uint32_t nrings, slots, nbufs;
    uint8_t *mem;
    size_t memsize, bufs_ofs;
    size_t *if_ofs;      /* per ring pair: its netmap_if */
    struct kring *tx, *rx;
    uint32_t extra_next; /* the next buffer not given out yet */
    struct wire in, out;
    int32_t tx_credit;   /* TX slots the NIC may still report done; < 0: no limit */
    uint32_t fault_dir, fault_reset;
    int fault_err;
    struct emu_fd fds[EMU_FDS];
    struct ssdk_netmap_emu_stats st;
};

void emu_sys_init(struct ssdk_netmap_emu *m);

int wire_push(struct wire *w, const uint8_t *frame, uint32_t len);
uint32_t wire_peek_len(const struct wire *w);
uint32_t wire_pop(struct wire *w, uint8_t *buf, uint32_t cap);

#endif
