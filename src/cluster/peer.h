/* Entry of the peer channel for the HTTPS server (src/web/http.c). */
#ifndef RAMPART_CLUSTER_PEER_H
#define RAMPART_CLUSTER_PEER_H

struct node;
struct evhttp_request;

/* Serves one request whose decoded path starts with "/peer/v1/" on the
 * HTTPS listener (loop thread), instead of the API and without its
 * session authentication: the request is authenticated by its HMAC
 * (cluster/keys.h) on a worker and answered from the loop. */
void peer_http_handle(struct node *n, struct evhttp_request *req, const char *path);

#endif
