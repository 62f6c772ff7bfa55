/* UDP echo (UDP_ECHO_SERVER): each datagram gets one JSON datagram back, sent from the same
 * socket to the sender (a connected client only accepts replies from the address it sent to).
 * Reads use a 1024-byte buffer like upstream, so longer datagrams are cut there. */
#include <errno.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include "echo.h"

static struct watch udp_w;

static void on_udp(struct watch *w, uint32_t events)
{
    for (int i = 0; i < 256; i++) {
        char data[1024];
        struct sockaddr_storage from;
        socklen_t flen = sizeof from;
        ssize_t n = recvfrom(w->fd, data, sizeof data, 0, (struct sockaddr *)&from, &flen);
        if (n < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                perror("torii-echo: recvfrom");
            return;
        }
        char host[INET6_ADDRSTRLEN] = "?";
        int port = 0;
        if (from.ss_family == AF_INET) {
            struct sockaddr_in *in = (struct sockaddr_in *)&from;
            inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
            port = ntohs(in->sin_port);
        } else if (from.ss_family == AF_INET6) {
            struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&from;
            inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
            port = ntohs(in6->sin6_port);
        }
        log_line("Received UDP %.*s from %s:%d", (int)n, data, host, port);

        struct buf out = {0};
        struct json j;
        json_init(&j, &out, 0);
        json_obj_begin(&j);
        json_key(&j, "request");
        json_str(&j, data, (size_t)n);
        json_kv(&j, "namespace", cfg.namespace_);
        json_kv(&j, "ingress", cfg.ingress);
        json_kv(&j, "service", cfg.service);
        json_kv(&j, "pod", cfg.pod);
        json_obj_end(&j);
        if (sendto(w->fd, out.p, out.len, 0, (struct sockaddr *)&from, flen) < 0)
            perror("torii-echo: sendto");
        buf_free(&out);
    }
}

void udp_echo_start(int fd)
{
    watch_add(&udp_w, fd, EPOLLIN, on_udp);
}
