#include "core/errors.h"

static const tw_err_info table[TW_ERR__COUNT] = {
#define TW_ERR_ROW(name, status, code, jtype, qcode, sender, msg) \
  {status, code, jtype, qcode, sender, msg},
    TW_ERRORS(TW_ERR_ROW)
#undef TW_ERR_ROW
};

const tw_err_info *tw_err_get(tw_err e) {
  if ((unsigned)e >= TW_ERR__COUNT) e = TW_ERR_INTERNAL;
  return &table[e];
}
