#include "core/xml_in.h"

#include <expat.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"

#define MAX_DEPTH 32

typedef struct {
  json_t *stack[MAX_DEPTH];
  char *names[MAX_DEPTH];
  tw_buf text[MAX_DEPTH];
  int depth;
  int failed;
  char *root;
} ctx;

static const char *local(const char *name) { /* drop a namespace prefix */
  const char *c = strrchr(name, ':');
  return c ? c + 1 : name;
}

static void on_start(void *ud, const char *name, const char **attrs) {
  (void)attrs;
  ctx *c = ud;
  if (c->failed) return;
  if (c->depth >= MAX_DEPTH - 1) {
    c->failed = 1;
    return;
  }
  c->depth++;
  c->stack[c->depth] = NULL; /* created on the first child */
  c->names[c->depth] = strdup(local(name));
  tw_buf_init(&c->text[c->depth], 1 << 20);
  if (c->depth == 1 && !c->root) c->root = strdup(local(name));
}

static void on_text(void *ud, const char *s, int len) {
  ctx *c = ud;
  if (c->failed || c->depth < 1) return;
  if (tw_buf_append(&c->text[c->depth], s, (size_t)len)) c->failed = 1;
}

static void on_end(void *ud, const char *name) {
  (void)name;
  ctx *c = ud;
  if (c->failed) return;
  int d = c->depth;
  json_t *val = c->stack[d] ? c->stack[d] : json_stringn(tw_buf_cstr(&c->text[d]), c->text[d].len);
  tw_buf_free(&c->text[d]);
  char *nm = c->names[d];
  c->depth--;
  json_t *parent = c->stack[c->depth];
  if (!parent) parent = c->stack[c->depth] = json_object();
  json_t *prev = json_object_get(parent, nm);
  if (!prev) {
    json_object_set_new(parent, nm, val);
  } else if (json_is_array(prev) && json_object_get(parent, "\x01list") == NULL) {
    json_array_append_new(prev, val);
  } else {
    json_t *arr = json_array();
    json_array_append(arr, prev);
    json_array_append_new(arr, val);
    json_object_set_new(parent, nm, arr);
  }
  free(nm);
}

json_t *tw_xml_parse(const char *data, size_t len, char **root_name) {
  ctx c;
  memset(&c, 0, sizeof c);
  XML_Parser p = XML_ParserCreate("UTF-8");
  if (!p) return NULL;
  XML_SetUserData(p, &c);
  XML_SetElementHandler(p, on_start, on_end);
  XML_SetCharacterDataHandler(p, on_text);
  int ok = XML_Parse(p, data, (int)len, 1) == XML_STATUS_OK && !c.failed && c.depth == 0;
  XML_ParserFree(p);
  for (int d = 1; d <= c.depth && d < MAX_DEPTH; d++) {
    json_decref(c.stack[d]);
    free(c.names[d]);
    tw_buf_free(&c.text[d]);
  }
  json_t *doc = c.stack[0];
  if (!ok) {
    json_decref(doc);
    free(c.root);
    return NULL;
  }
  /* the document's single root element's content */
  json_t *out = NULL;
  if (doc && c.root) out = json_incref(json_object_get(doc, c.root));
  json_decref(doc);
  if (out && !json_is_object(out)) { /* empty root: text */
    json_decref(out);
    out = json_object();
  }
  if (root_name)
    *root_name = c.root;
  else
    free(c.root);
  return out;
}

json_t *tw_xml_list(json_t *o, const char *name) {
  json_t *v = json_object_get(o, name);
  if (json_is_array(v)) return json_incref(v);
  json_t *a = json_array();
  if (v) json_array_append(a, v);
  return a;
}

const char *tw_xml_text(json_t *o, const char *name) {
  json_t *v = json_object_get(o, name);
  return json_is_string(v) ? json_string_value(v) : NULL;
}
