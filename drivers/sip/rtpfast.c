/* The SIP driver's per-packet RTP work for all of a device's calls in one call per tick (loaded with ctypes by
 * rtpfast.py; plain C, no Python headers). Every call's state is one row of a table the Python side owns (a
 * numpy structured array of the same layout, checked at load with rtp_layout). Every index and length is
 * checked here: a row index outside the table, a datagram of any size or content never writes out of bounds. */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>

#define FRAME 160
#define ADDR_MAX 28

typedef struct {
    int32_t fd;          /* the call's socket; -1: closed */
    int32_t addrlen;     /* length of addr; 0: no far end known yet; -1: not numeric (Python sends) */
    uint8_t addr[ADDR_MAX];   /* the far end's sockaddr_in / sockaddr_in6 */
    uint32_t ssrc;
    uint32_t ts;         /* the next packet's timestamp */
    uint32_t seq;        /* the next packet's sequence number (16 bits used) */
    uint32_t pt;         /* the audio payload type */
    int64_t sent;        /* packets sent */
} rtp_row;

/* sizeof(rtp_row) then the offset of each field, for the Python side to check its dtype against. */
int rtp_layout(int64_t *out, int n) {
    int64_t v[] = {(int64_t)sizeof(rtp_row), offsetof(rtp_row, fd), offsetof(rtp_row, addrlen),
                   offsetof(rtp_row, addr), offsetof(rtp_row, ssrc), offsetof(rtp_row, ts),
                   offsetof(rtp_row, seq), offsetof(rtp_row, pt), offsetof(rtp_row, sent)};
    int count = (int)(sizeof(v) / sizeof(v[0]));
    for (int i = 0; i < count && i < n; i++) out[i] = v[i];
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

/* Send codes[i] (n x 160 bytes) as one RTP packet to the call of row idx[i] (-1: no call), for every row with a
 * far end; its sequence number and timestamp move on whether or not the socket took the packet (as in Python),
 * and sent counts the packets the kernel took. Rows whose far end is not numeric are listed in python_rows (at
 * most n) for the Python path to send; returns how many. */
int rtp_send(rtp_row *rows, int nrows, int n, const int32_t *idx, const uint8_t *codes, int32_t *python_rows) {
    uint8_t packet[12 + FRAME];
    int deferred = 0;
    packet[0] = 0x80;
    for (int i = 0; i < n; i++) {
        int r = idx[i];
        if (r < 0 || r >= nrows) continue;
        rtp_row *row = &rows[r];
        if (row->addrlen == 0) continue;
        if (row->addrlen < 0 || row->addrlen > ADDR_MAX) {
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
        memcpy(packet + 12, codes + (size_t)i * FRAME, FRAME);
        int fd = row->fd;
        if (fd < 0) continue;
        if (sendto(fd, packet, sizeof packet, MSG_DONTWAIT, (const struct sockaddr *)row->addr,
                   (socklen_t)row->addrlen) == (ssize_t)sizeof packet)
            row->sent++;
    }
    return deferred;
}
