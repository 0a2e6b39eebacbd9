// The functions are static inline in the header (see there); a C target needs one source file.
#include "CSwitchyardHeadScan.h"
