#ifndef C_SWITCHYARD_BUILD_INFO_H
#define C_SWITCHYARD_BUILD_INFO_H

/// The git commit the binary was built from ("unknown" outside a git checkout).
const char *sy_build_commit(void);

#endif
