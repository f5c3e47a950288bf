/* fuzz_safetensors.c - libFuzzer target: any bytes through the safetensors parser, then
 * every tensor's data touched, must give either a parsed file or a clean error. */
#include <stdint.h>
#include <string.h>

#include "model/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    kn_error err;
    kn_safetensors *st = kn_st_from_buffer(data, size, "fuzz.safetensors", &err);
    if (!st) return 0;
    volatile uint8_t sink = 0;
    for (size_t i = 0; i < kn_st_count(st); i++) {
        const kn_tensor *t = kn_st_at(st, i);
        const uint8_t *p = t->data;
        for (size_t b = 0; b < t->nbytes; b++) sink ^= p[b];
    }
    kn_st_close(st);
    return 0;
}
