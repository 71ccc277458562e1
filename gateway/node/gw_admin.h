/*
 * gw_admin.h - the admin HTTP server (gw_admin.c; libevent evhttp on the ingest
 * thread): /metrics, /healthz, /stats, POST /publish.
 */
#ifndef GW_ADMIN_H
#define GW_ADMIN_H

#include "gw_node.h"
#include "pulse_err.h"

/* Binds cfg->admin_bind:cfg->admin_port; sets n->admin_port. 0, or a negative code
 * with err filled. */
int gw_admin_start(gw_node *n, pulse_error *err);
void gw_admin_stop(gw_node *n);

#endif
