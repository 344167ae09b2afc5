/* The event bus (bus.h). Targets and listeners are registered at start-up,
 * before any request: the tables are read without a lock afterwards. */
#include "events/bus.h"

#include <stdlib.h>
#include <string.h>

#define MAX_TARGETS 8
#define MAX_LISTENERS 16

typedef struct {
  const char *source, *type;
  tw_event_listener fn;
  void *ud;
} listener;

struct tw_events {
  tw_event_target targets[MAX_TARGETS];
  size_t ntargets;
  listener listeners[MAX_LISTENERS];
  size_t nlisteners;
};

tw_events *tw_events_new(void) {
  return calloc(1, sizeof(tw_events));
}

void tw_events_free(tw_events *bus) {
  free(bus);
}

int tw_events_add_target(tw_events *bus, const tw_event_target *t) {
  if (bus->ntargets == MAX_TARGETS) return -1;
  bus->targets[bus->ntargets++] = *t;
  return 0;
}

int tw_events_listen(tw_events *bus, const char *source, const char *type, tw_event_listener fn,
                     void *ud) {
  if (!fn) { /* remove ud's listeners */
    size_t k = 0;
    for (size_t i = 0; i < bus->nlisteners; i++)
      if (bus->listeners[i].ud != ud) bus->listeners[k++] = bus->listeners[i];
    bus->nlisteners = k;
    return 0;
  }
  if (bus->nlisteners == MAX_LISTENERS) return -1;
  bus->listeners[bus->nlisteners++] = (listener){source, type, fn, ud};
  return 0;
}

void tw_events_lock(tw_events *bus) {
  for (size_t i = 0; i < bus->ntargets; i++)
    if (bus->targets[i].lock) bus->targets[i].lock(bus->targets[i].ud);
}

void tw_events_unlock(tw_events *bus) {
  for (size_t i = bus->ntargets; i-- > 0;)
    if (bus->targets[i].unlock) bus->targets[i].unlock(bus->targets[i].ud);
}

static const tw_event_target *target_of(tw_events *bus, const char *arn) {
  if (!arn) return NULL;
  for (size_t i = 0; i < bus->ntargets; i++)
    if (!strncmp(arn, bus->targets[i].arn_prefix, strlen(bus->targets[i].arn_prefix)))
      return &bus->targets[i];
  return NULL;
}

int tw_event_target_exists(tw_events *bus, const char *arn, int *fifo) {
  const tw_event_target *t = target_of(bus, arn);
  if (!t) return -1;
  int f = 0;
  int rc = t->exists(t->ud, arn, &f);
  if (fifo) *fifo = f;
  return rc;
}

static int matches(const char *want, const char *got) {
  return !want || (got && !strcmp(want, got));
}

int tw_event_publish(tw_events *bus, const tw_event *e) {
  int rc = 0;
  if (e->target) {
    const tw_event_target *t = target_of(bus, e->target);
    rc = t ? t->deliver(t->ud, e) : -1;
  }
  for (size_t i = 0; i < bus->nlisteners; i++) {
    const listener *l = &bus->listeners[i];
    if (matches(l->source, e->source) && matches(l->type, e->type)) l->fn(l->ud, e);
  }
  return rc;
}
