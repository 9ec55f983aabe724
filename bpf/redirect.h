/* redirect.h: what the classifier and the shaping namespace's programs
 * agree on about skb->tc_index (docs/downloads.md). */
#ifndef SHAPER_REDIRECT_H
#define SHAPER_REDIRECT_H

/* The class minor carried from the interface's ingress into the shaping
 * namespace (plan.MaxMinor is 0x1000: minors fit). */
#define TC_INDEX_MINOR 0x7fff
/* Set by shaper_return: the packet comes back from shaping. */
#define TC_INDEX_RETURNED 0x8000

/* How downloads reach their queue (knob ingress_mode of the classifier). */
enum ingress_path { PATH_NONE, PATH_NETNS, PATH_IFB };

#endif
