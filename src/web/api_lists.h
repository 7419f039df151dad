/* API routes of the policy layers: the global allow/block lists, the
 * attachment lists, the content filters and the spam fingerprints
 * (contract: notes/policy-integration.md, to be merged into docs/api.md).
 * The lead merges these rows into the API route table. */
#ifndef RAMPART_WEB_API_LISTS_H
#define RAMPART_WEB_API_LISTS_H

#include "web/api.h"

extern const struct api_route api_list_routes[];
extern const unsigned api_list_nroutes;

#endif
