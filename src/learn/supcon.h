/* supcon.h - the in-batch contrastive objective for SetFit: supervised contrastive loss
 * (Khosla et al. 2020, the "L_out" form) over one batch of B embeddings with their topics,
 * so B forward passes give B (B - 1) pairs instead of B / 2.
 *
 * With z_i = e_i / |e_i| and s_ij = z_i . z_j / tau, for each anchor i that has at least one
 * positive (another row with its topic), P(i) = those rows:
 *   l_i = -1/|P(i)| sum_{p in P(i)} [ s_ip - log sum_{a != i} exp(s_ia) ]
 * and the loss is the mean of l_i over the anchors that have a positive (rows without one
 * still serve as negatives). */
#ifndef KN_SUPCON_H
#define KN_SUPCON_H

#include <stdint.h>

/* e: [B, D] embeddings (need not be normalised), labels[B], tau > 0. Returns the loss and,
 * when de is not NULL, writes d loss / d e [B, D]. Returns 0 with de zeroed when no anchor
 * has a positive; -1.0 if out of memory. */
double kn_supcon_loss_backward(float *de, const float *e, const int32_t *labels, int B, int D, double tau);

#endif
