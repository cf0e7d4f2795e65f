/* The SIP driver's per-packet RTP work for all of a device's calls in one call per tick (loaded with ctypes by
 * rtpfast.py; plain C, no Python headers). Every call's state is one row of a table the Python side owns (a
 * numpy structured array of the same layout, checked at load with rtp_layout): what it sends (sequence number,
 * timestamp, the far end's address) and what it receives (the jitter buffer as a ring, the counters, the RTCP
 * reception statistics). The semantics are rtp.py's (RtpStream.receive, _store, next_frame, decode_frames;
 * rtcp.Reception.update), the reference these functions are tested against byte for byte. Every index and
 * length is checked here: a row index outside the table, a datagram of any size or content never writes out of
 * bounds. */
#include <errno.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>

#define FRAME 160
#define ADDR_MAX 28
#define MAX_PACKET 1500
#define MAX_PACKETS_PER_TICK 16
#define JITTER_MAX 8
#define MAX_BUFFER 8000           /* samples a buffer may hold ahead of playout (plus one packet) */
#define RING 16384                /* > MAX_BUFFER + MAX_PACKET: the most a buffer can hold */
#define CLOCK 8000.0
#define EVENTS 1023               /* per epoll round, as Python's epoll.poll() */

/* rtcp.Reception's fields (RFC 3550 A.1, A.8), the memory of the Python object itself. */
typedef struct {
    int32_t has_ssrc;
    uint32_t ssrc, base_seq, max_seq;
    int32_t has_transit, pad_;
    int64_t cycles, received, expected_prior, received_prior;
    double transit, jitter;
} rtp_rx;

typedef struct {
    int32_t fd;          /* the call's socket; -1: closed */
    int32_t addrlen;     /* length of addr; 0: no far end known yet; -1: not numeric (Python sends) */
    uint8_t addr[ADDR_MAX];   /* the far end's sockaddr_in / sockaddr_in6 */
    uint32_t ssrc;
    uint32_t ts;         /* the next packet's timestamp */
    uint32_t seq;        /* the next packet's sequence number (16 bits used) */
    uint32_t pt;         /* the audio payload type */
    int64_t sent;        /* packets sent */
    int64_t received, lost, late, underruns;
    uint64_t rx;         /* address of the call's rtp_rx while RTCP runs, else 0 */
    int32_t law;         /* 0: µ-law, 1: A-law */
    int32_t cn_level;    /* -1: none; else the far end's comfort noise level */
    int32_t depth;       /* frames buffered before playing */
    int32_t primed, anchored;
    uint32_t play_ts;    /* timestamp of the buffer's first sample (when anchored) */
    int32_t head;        /* ring index of the buffer's first sample */
    int32_t filled;      /* samples in the buffer */
    int32_t has_remote_ssrc;
    uint32_t remote_ssrc;
    uint32_t mark;       /* the drain that handed one of this call's packets to Python: the rest follow */
    int32_t pad_;
    uint8_t ring[RING];
} rtp_row;

/* A datagram handed back to Python: its row, where it is in the buffer, its source. */
typedef struct {
    int32_t slot, offset, len, addrlen, moved;
    uint8_t addr[ADDR_MAX];
} rtp_back;

#define OFF(f) (int64_t) offsetof(rtp_row, f)
#define RXOFF(f) (int64_t) offsetof(rtp_rx, f)

/* The sizes and offsets of rtp_row, rtp_rx and rtp_back, for the Python side to check its dtypes against. */
int rtp_layout(int64_t *out, int n) {
    int64_t v[] = {(int64_t)sizeof(rtp_row), OFF(fd), OFF(addrlen), OFF(addr), OFF(ssrc), OFF(ts), OFF(seq),
                   OFF(pt), OFF(sent), OFF(received), OFF(lost), OFF(late), OFF(underruns), OFF(rx), OFF(law),
                   OFF(cn_level), OFF(depth), OFF(primed), OFF(anchored), OFF(play_ts), OFF(head), OFF(filled),
                   OFF(has_remote_ssrc), OFF(remote_ssrc), OFF(mark), OFF(pad_), OFF(ring),
                   (int64_t)sizeof(rtp_rx), RXOFF(has_ssrc), RXOFF(ssrc), RXOFF(base_seq), RXOFF(max_seq),
                   RXOFF(has_transit), RXOFF(pad_), RXOFF(cycles), RXOFF(received), RXOFF(expected_prior),
                   RXOFF(received_prior), RXOFF(transit), RXOFF(jitter),
                   (int64_t)sizeof(rtp_back), (int64_t)offsetof(rtp_back, addr)};
    int count = (int)(sizeof(v) / sizeof(v[0]));
    for (int i = 0; i < count && i < n; i++) out[i] = v[i];
    return count;
}

static double monotonic(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* rtcp.Reception.update: count one audio packet; a new SSRC starts the statistics over. */
static void rx_update(rtp_rx *r, uint32_t seq, uint32_t ts, uint32_t ssrc, double arrival) {
    if (!r->has_ssrc || ssrc != r->ssrc) {
        memset(r, 0, sizeof *r);
        r->has_ssrc = 1;
        r->ssrc = ssrc;
        r->base_seq = r->max_seq = seq;
    } else {
        uint32_t delta = (seq - r->max_seq) & 0xFFFF;
        if (delta < 3000) {
            if (seq < r->max_seq) r->cycles += 1 << 16;
            r->max_seq = seq;
        }
    }
    r->received += 1;
    double now = arrival * CLOCK;
    double transit = now - (double)ts;
    if (r->has_transit) {
        double d = fabs(transit - r->transit);
        if (d < CLOCK * 10) r->jitter += (d - r->jitter) / 16;
    }
    r->transit = transit;
    r->has_transit = 1;
}

static void reset(rtp_row *row) {
    row->filled = 0;
    row->anchored = 0;
    row->primed = 0;
}

/* Copy len bytes into the buffer at sample offset pos (0 <= pos, pos + len <= RING). */
static void put(rtp_row *row, int32_t pos, const uint8_t *src, int32_t len) {
    int32_t at = (row->head + pos) & (RING - 1);
    int32_t first = len < RING - at ? len : RING - at;
    memcpy(row->ring + at, src, (size_t)first);
    if (first < len) memcpy(row->ring, src + first, (size_t)(len - first));
}

static void fill(rtp_row *row, int32_t pos, uint8_t code, int32_t len) {
    int32_t at = (row->head + pos) & (RING - 1);
    int32_t first = len < RING - at ? len : RING - at;
    memset(row->ring + at, code, (size_t)first);
    if (first < len) memset(row->ring, code, (size_t)(len - first));
}

/* RtpStream._store: place a packet's samples by timestamp. */
static void store(rtp_row *row, uint32_t ts, const uint8_t *payload, int32_t len) {
    if (len <= 0 || len > MAX_PACKET) return;
    if (!row->anchored) {
        row->anchored = 1;
        row->play_ts = ts;
    }
    int64_t offset = (int32_t)(ts - row->play_ts);
    if (offset == row->filled && offset >= 0 && offset <= MAX_BUFFER) {   /* in order: append */
        put(row, (int32_t)offset, payload, len);
        row->filled += len;
        return;
    }
    if (offset < 0) {
        row->late++;
        if (row->depth < JITTER_MAX) row->depth++;
        if (-offset >= len) return;
        payload += -offset;
        len -= (int32_t)-offset;
        offset = 0;
    }
    if (offset > MAX_BUFFER) {   /* a jump in time: anchor afresh */
        reset(row);
        row->anchored = 1;
        row->play_ts = ts;
        offset = 0;
    }
    int32_t end = (int32_t)offset + len;
    if (end > RING) return;      /* cannot happen (offset <= MAX_BUFFER, len <= MAX_PACKET); never written past */
    if (row->filled < end) fill(row, row->filled, row->law ? 0xD5 : 0xFF, end - row->filled);
    put(row, (int32_t)offset, payload, len);
    if (row->filled < end) row->filled = end;
}

/* The audio part of RtpStream.receive after the packet was counted: comfort noise ends, RTCP statistics, a new
 * source starts over, the samples stored. */
static void audio(rtp_row *row, uint32_t seq, uint32_t ts, uint32_t ssrc, const uint8_t *payload, int32_t len,
                  double now) {
    row->cn_level = -1;
    if (row->rx) rx_update((rtp_rx *)(uintptr_t)row->rx, seq, ts, ssrc, now < 0 ? monotonic() : now);
    if (row->has_remote_ssrc && ssrc != row->remote_ssrc) reset(row);
    row->has_remote_ssrc = 1;
    row->remote_ssrc = ssrc;
    store(row, ts, payload, len);
}

static uint32_t be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* For Python's handling of a handed-back audio packet of row slot: what the C path does with it. 0 or -1. */
int rtp_audio(rtp_row *rows, int nrows, int slot, uint32_t seq, uint32_t ts, uint32_t ssrc, const uint8_t *payload,
              int len, double now) {
    if (slot < 0 || slot >= nrows || len <= 0 || len > MAX_PACKET) return -1;
    audio(&rows[slot], seq & 0xFFFF, ts, ssrc, payload, len, now);
    return 0;
}

/* For Python's handling of a comfort noise packet: count it in the RTCP statistics. 0 or -1. */
int rtp_rx_note(rtp_row *rows, int nrows, int slot, uint32_t seq, uint32_t ts, uint32_t ssrc, double now) {
    if (slot < 0 || slot >= nrows) return -1;
    if (rows[slot].rx) rx_update((rtp_rx *)(uintptr_t)rows[slot].rx, seq & 0xFFFF, ts, ssrc, now < 0 ? monotonic() : now);
    return 0;
}

/* For rtcp.Reception.update in Python on the same memory (the reference and the C path share one function). */
void rtp_rx_update(rtp_rx *r, uint32_t seq, uint32_t ts, uint32_t ssrc, double arrival) {
    if (r) rx_update(r, seq & 0xFFFF, ts, ssrc, arrival);
}

/* Watch (add = 1) or stop watching (add = 0) a row's socket in the device's epoll set; 0 or -errno. */
int rtp_watch(int epfd, int fd, int slot, int add) {
    struct epoll_event ev;
    memset(&ev, 0, sizeof ev);
    ev.events = EPOLLIN;
    ev.data.u64 = (uint64_t)(uint32_t)fd << 32 | (uint32_t)slot;
    if (epoll_ctl(epfd, add ? EPOLL_CTL_ADD : EPOLL_CTL_DEL, fd, &ev) == 0) return 0;
    if (add && errno == EEXIST && epoll_ctl(epfd, EPOLL_CTL_MOD, fd, &ev) == 0) return 0;
    return -errno;
}

static int same_addr(const rtp_row *row, const struct sockaddr_storage *ss, socklen_t len) {
    if (row->addrlen <= 0 || (socklen_t)row->addrlen != len) return 0;
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)ss, *b = (const struct sockaddr_in *)row->addr;
        return b->sin_family == AF_INET && a->sin_port == b->sin_port && a->sin_addr.s_addr == b->sin_addr.s_addr;
    }
    if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss, *b = (const struct sockaddr_in6 *)row->addr;
        return b->sin6_family == AF_INET6 && a->sin6_port == b->sin6_port && a->sin6_scope_id == b->sin6_scope_id
               && memcmp(&a->sin6_addr, &b->sin6_addr, sizeof a->sin6_addr) == 0;
    }
    return 0;
}

/* Read what waits on the watched sockets (each at most MAX_PACKETS_PER_TICK datagrams, in epoll rounds as the
 * Python Poller): the usual packet (version 2, no padding, extension or CSRC, the call's audio payload type,
 * from the far end's known address) goes into the call's buffer here; any other is copied to buf and listed in
 * backs for Python (and so are the call's later packets of this drain, to keep their order). Stops early when
 * backs or buf could not take one more datagram (the rest waits for the next tick). mark: this drain's number
 * (not 0). now: the arrival time for the RTCP statistics, < 0 for the clock at each packet. Returns the number
 * of datagrams handed back. */
int rtp_drain(rtp_row *rows, int nrows, int epfd, uint32_t mark, double now, rtp_back *backs, int maxbacks,
              uint8_t *buf, int bufsize) {
    struct epoll_event events[EVENTS];
    uint8_t packet[MAX_PACKET + 1];
    int count = 0, used = 0;
    for (int round = 0; round < MAX_PACKETS_PER_TICK; round++) {
        int ready = epoll_wait(epfd, events, EVENTS, 0);
        if (ready <= 0) break;
        for (int e = 0; e < ready; e++) {
            if (count >= maxbacks || bufsize - used < (int)sizeof packet) return count;
            int slot = (int)(uint32_t)(events[e].data.u64 & 0xFFFFFFFFu);
            int fd = (int)(uint32_t)(events[e].data.u64 >> 32);
            if (slot < 0 || slot >= nrows || rows[slot].fd != fd) {   /* released or closed meanwhile */
                rtp_watch(epfd, fd, 0, 0);
                continue;
            }
            rtp_row *row = &rows[slot];
            struct sockaddr_storage ss;
            socklen_t sl = sizeof ss;
            ssize_t got = recvfrom(fd, packet, sizeof packet, MSG_DONTWAIT, (struct sockaddr *)&ss, &sl);
            if (got < 0) continue;   /* nothing after all, or an error (ICMP refusal) the read cleared */
            if (sl > sizeof ss) sl = sizeof ss;
            int len = (int)got;
            int known = same_addr(row, &ss, sl);
            if (known && row->mark != mark && len > 12 && len <= MAX_PACKET && packet[0] == 0x80
                && (packet[1] & 0x7F) == (row->pt & 0xFF)) {
                row->received++;
                audio(row, (uint32_t)packet[2] << 8 | packet[3], be32(packet + 4), be32(packet + 8), packet + 12,
                      len - 12, now);
                continue;
            }
            rtp_back *back = &backs[count++];
            back->slot = slot;
            back->offset = used;
            back->len = len;
            back->moved = !known;
            back->addrlen = sl <= ADDR_MAX ? (int32_t)sl : 0;
            memset(back->addr, 0, ADDR_MAX);
            if (back->addrlen) memcpy(back->addr, &ss, (size_t)back->addrlen);
            memcpy(buf + used, packet, (size_t)len);
            used += len;
            row->mark = mark;
        }
    }
    return count;
}

/* RtpStream.next_frame into codes: 1 with a frame, 0 for none (buffering, or ran dry). */
static int next_frame(rtp_row *row, uint8_t *codes) {
    if (!row->anchored) return 0;
    if (!row->primed) {
        if (row->filled < row->depth * FRAME) return 0;
        row->primed = 1;
    }
    if (row->filled < FRAME) {
        if (row->cn_level < 0) row->underruns++;   /* running dry during comfort noise is expected */
        reset(row);
        return 0;
    }
    int32_t at = row->head, first = FRAME < RING - at ? FRAME : RING - at;
    memcpy(codes, row->ring + at, (size_t)first);
    if (first < FRAME) memcpy(codes + first, row->ring, (size_t)(FRAME - first));
    row->head = (row->head + FRAME) & (RING - 1);
    row->filled -= FRAME;
    row->play_ts += FRAME;
    if (row->filled > (row->depth + 4) * FRAME) {   /* the sender's clock runs fast: drop a frame */
        row->head = (row->head + FRAME) & (RING - 1);
        row->filled -= FRAME;
        row->play_ts += FRAME;
        row->lost++;
    }
    return 1;
}

/* decode_frames: out[i] (n x 160 int16) is row idx[i]'s frame this tick decoded with table (512 entries: µ-law
 * then A-law), silence in the row's law where it has none, µ-law silence where idx[i] < 0. The rows that have no
 * frame while their far end asked for comfort noise are listed in noisy (at most n); returns how many. */
int rtp_decode(rtp_row *rows, int nrows, int n, const int32_t *idx, const int16_t *table, int16_t *out,
               int32_t *noisy) {
    uint8_t codes[FRAME];
    int count = 0;
    for (int i = 0; i < n; i++) {
        int16_t *o = out + (size_t)i * FRAME;
        int r = idx[i];
        if (r < 0 || r >= nrows) {
            for (int k = 0; k < FRAME; k++) o[k] = table[0xFF];
            continue;
        }
        rtp_row *row = &rows[r];
        const int16_t *t = table + (row->law ? 256 : 0);
        if (next_frame(row, codes)) {
            for (int k = 0; k < FRAME; k++) o[k] = t[codes[k]];
        } else {
            int16_t v = t[row->law ? 0xD5 : 0xFF];
            for (int k = 0; k < FRAME; k++) o[k] = v;
            if (row->cn_level >= 0) noisy[count++] = i;
        }
    }
    return count;
}

/* A numeric host (IPv4 or IPv6, with %scope) and port as a sockaddr of the socket's family into out (ADDR_MAX
 * bytes): its length, or -1 when the host is not a numeric address of that family (never a DNS lookup). */
int rtp_pack_addr(int family, const char *host, int port, uint8_t *out) {
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = family;
    hints.ai_socktype = SOCK_DGRAM;
    hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
    if (port < 0 || port > 65535 || host == NULL) return -1;
    char service[8];
    int k = 0, p = port;
    char tmp[8];
    do { tmp[k++] = (char)('0' + p % 10); p /= 10; } while (p && k < 7);
    for (int i = 0; i < k; i++) service[i] = tmp[k - 1 - i];
    service[k] = 0;
    if (getaddrinfo(host, service, &hints, &res) != 0 || res == NULL) return -1;
    int len = -1;
    if (res->ai_addrlen > 0 && res->ai_addrlen <= ADDR_MAX) {
        memset(out, 0, ADDR_MAX);
        memcpy(out, res->ai_addr, res->ai_addrlen);
        len = (int)res->ai_addrlen;
    }
    freeaddrinfo(res);
    return len;
}

/* Encode frames[i] (n x 160 int16) in the law of row idx[i] (-1: no call) with tables (65536 µ-law codes then
 * 65536 A-law codes, indexed by the sample as uint16: g711's own encoders tabulated, so the codes are theirs) and
 * send it as one RTP packet to the call's far end, for every row with one; its sequence number and timestamp move
 * on whether or not the socket took the packet (as in Python), and sent counts the packets the kernel took. Rows
 * whose far end is not numeric are listed in python_rows (at most n) with their codes in codes_out (n x 160) for
 * the Python path to send; returns how many. */
int rtp_send(rtp_row *rows, int nrows, int n, const int32_t *idx, const int16_t *frames, const uint8_t *tables,
             uint8_t *codes_out, int32_t *python_rows) {
    uint8_t packet[12 + FRAME];
    int deferred = 0;
    packet[0] = 0x80;
    for (int i = 0; i < n; i++) {
        int r = idx[i];
        if (r < 0 || r >= nrows) continue;
        rtp_row *row = &rows[r];
        if (row->addrlen == 0) continue;
        const uint8_t *table = tables + (row->law ? 65536 : 0);
        const int16_t *frame = frames + (size_t)i * FRAME;
        uint8_t *codes = packet + 12;
        for (int k = 0; k < FRAME; k++) codes[k] = table[(uint16_t)frame[k]];
        if (row->addrlen < 0 || row->addrlen > ADDR_MAX) {
            memcpy(codes_out + (size_t)i * FRAME, codes, FRAME);
            python_rows[deferred++] = i;
            continue;
        }
        uint32_t seq = row->seq & 0xFFFF, ts = row->ts, ssrc = row->ssrc;
        row->seq = (seq + 1) & 0xFFFF;
        row->ts = ts + FRAME;
        packet[1] = (uint8_t)row->pt;
        packet[2] = (uint8_t)(seq >> 8);
        packet[3] = (uint8_t)seq;
        packet[4] = (uint8_t)(ts >> 24);
        packet[5] = (uint8_t)(ts >> 16);
        packet[6] = (uint8_t)(ts >> 8);
        packet[7] = (uint8_t)ts;
        packet[8] = (uint8_t)(ssrc >> 24);
        packet[9] = (uint8_t)(ssrc >> 16);
        packet[10] = (uint8_t)(ssrc >> 8);
        packet[11] = (uint8_t)ssrc;
        int fd = row->fd;
        if (fd < 0) continue;
        if (sendto(fd, packet, sizeof packet, MSG_DONTWAIT, (const struct sockaddr *)row->addr,
                   (socklen_t)row->addrlen) == (ssize_t)sizeof packet)
            row->sent++;
    }
    return deferred;
}
