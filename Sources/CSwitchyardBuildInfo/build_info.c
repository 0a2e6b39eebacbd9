#include "CSwitchyardBuildInfo.h"

// SWITCHYARD_COMMIT is defined by Package.swift from the checkout's git information: a C
// macro is the one place SwiftPM lets a manifest hand a string value to the code.
#ifndef SWITCHYARD_COMMIT
#define SWITCHYARD_COMMIT "unknown"
#endif

const char *sy_build_commit(void) { return SWITCHYARD_COMMIT; }
