/* The built-in AWS/SNS metrics at their source: each topic counts what is
 * published to it and what its queue subscriptions got (delivered, failed)
 * under the engine's lock; the publisher (monitoring/builtin.c) sweeps the
 * counts every --metrics-interval seconds. */
#include "sns/sns_internal.h"

void sns_metrics_published(sns_topic *t, size_t bytes) {
  double b = (double)bytes;
  if (t->m_published == 0 || b < t->m_size_min) t->m_size_min = b;
  if (t->m_published == 0 || b > t->m_size_max) t->m_size_max = b;
  t->m_published++;
  t->m_size_sum += b;
}

void tw_sns_metrics_sweep(tw_sns *s, void (*fn)(void *ud, const tw_sns_topic_metrics *m),
                          void *ud) {
  sns_lock(s);
  const char *arn;
  void *v;
  for (tw_map_entry *it = tw_map_next(&s->topics, NULL, &arn, &v); it;
       it = tw_map_next(&s->topics, it, &arn, &v)) {
    sns_topic *t = v;
    tw_sns_topic_metrics m = {.name = t->name,
                              .published = t->m_published,
                              .delivered = t->m_delivered,
                              .failed = t->m_failed,
                              .size_sum = t->m_size_sum,
                              .size_min = t->m_size_min,
                              .size_max = t->m_size_max};
    t->m_published = t->m_delivered = t->m_failed = 0;
    t->m_size_sum = t->m_size_min = t->m_size_max = 0;
    fn(ud, &m);
  }
  sns_unlock(s);
}
