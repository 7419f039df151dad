/* API routes of the DNS lists: the DNSBL and URIBL zones, one config key
 * per zone (dnsbl/<zone>, uribl/<zone>; value format in filter/dnsbl.h).
 *   GET    /dnsbl            [{"zone", "action", "score"?, "codes"?, "mask"?}, ...]
 *   GET    /dnsbl/<zone>     one zone (404 when absent)
 *   PUT    /dnsbl/<zone>     body {"action", "score", "codes", "mask"}: 201 new, 200 replaced
 *   DELETE /dnsbl/<zone>     404 when absent
 * and the same under /uribl. */
#ifndef RAMPART_WEB_API_DNSLISTS_H
#define RAMPART_WEB_API_DNSLISTS_H

#include "web/api.h"

extern const struct api_route api_dnslist_routes[];
extern const unsigned api_dnslist_nroutes;

#endif
