/* common.h: what every shaper tc program shares. */
#ifndef SHAPER_COMMON_H
#define SHAPER_COMMON_H

/* TCX_NEXT lets later programs on the hook run. For a legacy clsact
 * direct-action filter the same value is TC_ACT_UNSPEC (-1), which also
 * means "continue", so one program serves both attach modes. Older UAPI
 * headers (Debian 12's) lack it. */
#ifndef TCX_NEXT
#define TCX_NEXT -1
#endif

#endif
