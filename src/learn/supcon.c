/* supcon.c - supervised contrastive loss and its gradient (supcon.h), in double: B is a
 * training batch (tens of rows), so the B x B similarities are cheap next to the encoder. */
#include "learn/supcon.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

double kn_supcon_loss_backward(float *de, const float *e, const int32_t *labels, int B, int D, double tau)
{
    double *z = malloc((size_t)B * D * sizeof *z), *norm = malloc((size_t)B * sizeof *norm);
    double *S = malloc((size_t)B * B * sizeof *S), *G = calloc((size_t)B * B, sizeof *G);
    if (!z || !norm || !S || !G) {
        free(z), free(norm), free(S), free(G);
        return -1.0;
    }
    for (int i = 0; i < B; i++) {
        double ss = 0;
        for (int d = 0; d < D; d++) ss += (double)e[(size_t)i * D + d] * e[(size_t)i * D + d];
        norm[i] = fmax(sqrt(ss), 1e-12);
        for (int d = 0; d < D; d++) z[(size_t)i * D + d] = e[(size_t)i * D + d] / norm[i];
    }
    for (int i = 0; i < B; i++)
        for (int j = i; j < B; j++) {
            double dot = 0;
            for (int d = 0; d < D; d++) dot += z[(size_t)i * D + d] * z[(size_t)j * D + d];
            S[(size_t)i * B + j] = S[(size_t)j * B + i] = dot / tau;
        }
    /* G[i][j] = d loss / d S[i][j]: anchors' softmax over a != i minus their positives'
     * share, each anchor weighted 1 / anchors. */
    int anchors = 0;
    for (int i = 0; i < B; i++) {
        int pos = 0;
        for (int j = 0; j < B; j++) pos += j != i && labels[j] == labels[i];
        anchors += pos > 0;
    }
    double loss = 0;
    for (int i = 0; anchors > 0 && i < B; i++) {
        int pos = 0;
        double mx = -INFINITY, sum = 0, pos_sum = 0;
        for (int j = 0; j < B; j++)
            if (j != i) {
                pos += labels[j] == labels[i];
                mx = fmax(mx, S[(size_t)i * B + j]);
            }
        if (pos == 0) continue;
        for (int j = 0; j < B; j++)
            if (j != i) sum += exp(S[(size_t)i * B + j] - mx);
        double lse = mx + log(sum);
        for (int j = 0; j < B; j++)
            if (j != i) {
                int is_pos = labels[j] == labels[i];
                if (is_pos) pos_sum += S[(size_t)i * B + j];
                G[(size_t)i * B + j] = (exp(S[(size_t)i * B + j] - lse) - (is_pos ? 1.0 / pos : 0.0)) / anchors;
            }
        loss += (lse - pos_sum / pos) / anchors;
    }
    if (de) {
        /* dL/dz_i = (sum_j (G_ij + G_ji) z_j) / tau; then through z = e / |e|. */
        double *dz = calloc((size_t)D, sizeof *dz);
        if (!dz) {
            free(z), free(norm), free(S), free(G);
            return -1.0;
        }
        for (int i = 0; i < B; i++) {
            memset(dz, 0, (size_t)D * sizeof *dz);
            for (int j = 0; j < B; j++) {
                double g = (G[(size_t)i * B + j] + G[(size_t)j * B + i]) / tau;
                if (g != 0)
                    for (int d = 0; d < D; d++) dz[d] += g * z[(size_t)j * D + d];
            }
            /* Below the 1e-12 floor z = e / 1e-12 is linear in e: no projection. */
            double dot = 0;
            if (norm[i] > 1e-12)
                for (int d = 0; d < D; d++) dot += dz[d] * z[(size_t)i * D + d];
            for (int d = 0; d < D; d++) de[(size_t)i * D + d] = (float)((dz[d] - dot * z[(size_t)i * D + d]) / norm[i]);
        }
        free(dz);
    }
    free(z), free(norm), free(S), free(G);
    return loss;
}
