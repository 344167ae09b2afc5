/* tweedle's version: `tweedle --version`, the Server header of every answer. */
#ifndef TW_CORE_VERSION_H
#define TW_CORE_VERSION_H
#define TW_VERSION "0.2.0"
#endif
