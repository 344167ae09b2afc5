/* The pattern engine: EventBridge event patterns and SNS filter policies are
 * one language (JSON objects whose leaves are arrays of matchers) with two
 * dialects that differ in what they are matched against, in the operators
 * they accept and in their limits:
 *   - TW_PATTERN_EVENTBRIDGE: the whole event (version, id, source,
 *     detail-type, detail, ...);
 *   - TW_PATTERN_SNS_ATTRIBUTES: a message's attributes, given as an object
 *     {name: value} (tw_pattern_sns_attributes builds it: String -> string,
 *     Number -> number, String.Array -> the parsed array; Binary is never
 *     matched); the policy must be flat (no nested objects);
 *   - TW_PATTERN_SNS_BODY: the message body parsed as JSON (FilterPolicyScope
 *     MessageBody); nested objects; a body that is not a JSON object matches
 *     no policy but "{}".
 * In every dialect a key holding dots names the same path as the nested keys
 * ({"a.b": [..]} is {"a": {"b": [..]}}), in the pattern and in the document,
 * as AWS flattens both.
 * Matchers: exact strings/numbers/true/false/null (numbers compare as numbers),
 * prefix, suffix, equals-ignore-case, anything-but (value, list, prefix; and
 * for EventBridge suffix, equals-ignore-case, wildcard), numeric ranges,
 * exists, cidr, $or; EventBridge also wildcard and prefix/suffix with
 * equals-ignore-case. A value that is an array in the document matches when
 * any element matches. docs/patterns.md has the details. */
#ifndef TW_EVENTS_PATTERN_H
#define TW_EVENTS_PATTERN_H
#include <jansson.h>
#include <stddef.h>

typedef enum {
  TW_PATTERN_EVENTBRIDGE,
  TW_PATTERN_SNS_ATTRIBUTES,
  TW_PATTERN_SNS_BODY,
} tw_pattern_dialect;

typedef struct tw_pattern tw_pattern;

/* Parses and validates a pattern (json need not be NUL-terminated; the
 * pattern keeps no pointer into it). NULL on error, with AWS's message for the
 * dialect in err (EventBridge: InvalidEventPatternException's text, "Event
 * pattern is not valid. Reason: ..."; SNS: InvalidParameter's "Invalid
 * parameter: FilterPolicy: ..." text, as SetSubscriptionAttributes says it —
 * Subscribe says "Invalid parameter: Attributes Reason: FilterPolicy: ...",
 * so replace the leading "Invalid parameter: " there; the nesting error is
 * "Invalid parameter: Filter policy scope MessageAttributes does not support
 * nested filter policy", without "FilterPolicy: "). Like AWS's, most reasons
 * end with Jackson's "\n at [Source: ...; line: L, column: C]", which quotes
 * up to 500 characters of the pattern: give err 4096 bytes. An SNS policy
 * "{}" compiles to a pattern that matches everything. */
tw_pattern *tw_pattern_compile(const char *json, size_t len, tw_pattern_dialect d, char *err,
                               size_t errlen);
/* 1 when doc matches, 0 when not (a doc that is not an object matches only
 * an SNS "{}"; doc may be NULL). Thread-safe and allocation-free: a compiled
 * pattern is read-only. */
int tw_pattern_match(const tw_pattern *p, const json_t *doc);
void tw_pattern_free(tw_pattern *p);

/* SNS message attributes in the JSON-protocol shape
 * {"name":{"DataType":"String","StringValue":"v"}} (the notification shape
 * {"Type":..,"Value":..} is read too) as the document an attribute-scope
 * filter policy is matched against: String and String.<custom> -> string,
 * Number and Number.<custom> -> number, String.Array -> the array (one that is
 * not a JSON array -> [], which matches nothing), Binary -> left out.
 * New reference; never NULL. */
json_t *tw_pattern_sns_attributes(const json_t *message_attributes);

#endif
