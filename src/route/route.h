/* route.h - the routing policy: answer a message automatically, or hand it to a person.
 *
 * A message is answered automatically only when all of these hold, checked in this order
 * (the first that fails is the reason it goes to a person):
 *   1. its most probable topic is known to the workspace and automatable (never-automate
 *      topics such as complaints or fraud always go to a person);
 *   2. the calibrated probability of that topic reaches the topic's threshold;
 *   3. the margin to the second most probable topic reaches the ambiguity margin;
 *   4. a reply exists in the message's language, or else in the fallback language.
 * Otherwise the message is queued for a person with the suggested topic. The decision
 * records the numbers it was based on and a one-line reason, never the message text. */
#ifndef KN_ROUTE_H
#define KN_ROUTE_H

#include <stddef.h>

#include "util/error.h"

typedef struct kn_route_topic {
    const char *name;
    int known;       /* 0: the model's topic is not in the workspace: never automated */
    int automatable;
    double threshold; /* in [0, 1] */
} kn_route_topic;

/* Looks up the reply of topic in language: 0 and *text (malloc'ed), 1 when there is none,
 * -1 on error. */
typedef int (*kn_reply_lookup)(void *ctx, const char *topic, const char *language, char **text, kn_error *err);

typedef struct kn_route_input {
    const float *proba;            /* [n_classes], from the active model */
    int n_classes;
    const kn_route_topic *topics;  /* [n_classes]: the workspace's settings for each class */
    double margin;                 /* ambiguity margin, e.g. 0.1 */
    const char *language;          /* the message's language; may be NULL or "" */
    const char *fallback_language; /* e.g. "en"; may be NULL */
    kn_reply_lookup reply;
    void *reply_ctx;
} kn_route_input;

typedef enum kn_route_action { KN_ROUTE_HUMAN = 0, KN_ROUTE_AUTO_REPLY = 1 } kn_route_action;

typedef struct kn_route_decision {
    kn_route_action action;
    int topic;            /* most probable class */
    int second;           /* second most probable class, -1 with a single class */
    double probability;   /* of topic */
    double margin;        /* probability - probability of second */
    double threshold;     /* the topic's threshold */
    char reason[256];     /* e.g. "probability 0.812 is below the topic's threshold 0.900" */
    char reply_language[16];
    char *reply_text;     /* malloc'ed when action is KN_ROUTE_AUTO_REPLY, else NULL */
} kn_route_decision;

/* 0 with *out filled; -1 for invalid input (no classes, probabilities not in [0,1] or NaN,
 * a threshold outside [0,1], a negative margin) or a failing reply lookup. */
int kn_route_decide(const kn_route_input *in, kn_route_decision *out, kn_error *err);
void kn_route_decision_free(kn_route_decision *d);

#endif
