/* language_samples.h - the shipped sample sentences per language that language_id.c
 * learns its n-gram model from. */
#ifndef KN_LANGUAGE_SAMPLES_H
#define KN_LANGUAGE_SAMPLES_H

typedef struct kn_language_samples {
    const char *tag;                /* BCP 47, canonical case; NULL ends the table */
    const char *const *sentences;   /* NULL-terminated */
} kn_language_samples;

extern const kn_language_samples kn_language_sample_sets[];

#endif
