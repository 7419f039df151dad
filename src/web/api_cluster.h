/* API routes of the cluster (ADVANCED > Clustering; docs/cluster.md):
 *   GET    /cluster                    status: this node, quorum, every member
 *   PUT    /cluster/secret             {"secret"}          Cluster Shared Secret (node-local)
 *   PUT    /cluster/hostname           {"hostname"}        Cluster Host Name ("" = address)
 *   GET    /cluster/hostmap            [{"name", "address"}]  Local Host Map
 *   PUT    /cluster/hostmap/<name>     {"address"}
 *   DELETE /cluster/hostmap/<name>
 *   POST   /cluster/join               {"host"}            blocks until joined
 *   POST   /cluster/leave
 *   DELETE /cluster/members/<name>     remove a member (name, address or node id)
 *   PUT    /cluster/members/<name>/role {"role": "active"|"standby"}
 *   GET    /cluster/conflicts          ?limit&offset: {"total", "rows"}
 *   DELETE /cluster/conflicts
 *   GET    /cluster/latency            recent delivery delays (bench) */
#ifndef RAMPART_WEB_API_CLUSTER_H
#define RAMPART_WEB_API_CLUSTER_H

#include "web/api.h"

extern const struct api_route api_cluster_routes[];
extern const unsigned api_cluster_nroutes;

#endif
