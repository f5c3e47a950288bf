/* backward.h - backward passes of the transformer building blocks in ops.h, for SetFit
 * fine-tuning. Row-major float32, one plain function per layer in the manner of llm.c:
 * each takes what the forward saw (inputs, sometimes outputs) and the upstream gradient dy.
 *
 * Conventions, so an encoder backward can chain them layer by layer:
 *  - input gradients (dx, dqkv, du, ...) are WRITTEN (=); a caller that needs a sum (a
 *    residual branch) adds them with kn_add.
 *  - parameter gradients (dW, db, dscale, dbias) are ACCUMULATED (+=) so micro-batches and
 *    tied weights sum for free; zero them once per optimiser step.
 *  - any gradient pointer may be NULL to skip it (a frozen layer, the first layer's dx).
 *  - the element-wise ones allow dx == dy (in place). */
#ifndef KN_BACKWARD_H
#define KN_BACKWARD_H

/* y[M,N] = x[M,K] @ W + b. W is [K,N] (in x out, kn_matrix's layout) or, when transposed
 * is set, [N,K] (out x in, PyTorch Linear; kn_weight_src.transposed); dW has W's layout.
 * dx[M,K] = dy W^T; dW += x^T dy; db[N] += column sums of dy. dx must not alias dy. */
void kn_linear_backward(float *dx, float *dW, float *db, const float *dy, const float *x, const float *W, int M,
                        int K, int N, int transposed);

/* y = (x - mean) * rstd * scale + bias per row of D. mean and rstd are recomputed from x
 * (a row is read twice more, far cheaper than the activation memory a saved pair would
 * cost per layer of a batch), the same way kn_layernorm computes them. dx may equal dy. */
void kn_layernorm_backward(float *dx, float *dscale, float *dbias, const float *dy, const float *x,
                           const float *scale, int M, int D, float eps);

/* Element-wise activations. ReLU and tanh take the forward OUTPUT y (what in-place forwards
 * leave behind); GELU (exact erf) needs its INPUT x, which the caller must keep. */
void kn_relu_backward(float *dx, const float *dy, const float *y, long n);
void kn_tanh_backward(float *dx, const float *dy, const float *y, long n);
void kn_gelu_backward(float *dx, const float *dy, const float *x, long n);

/* p = softmax(x) per row; given p and dp: dx = p * (dp - sum(dp * p)). dx may equal dp. */
void kn_softmax_rows_backward(float *dx, const float *dp, const float *p, int rows, int cols);

/* Backward of kn_attention_batch (same packing: n sequences of lengths[s] rows, qkv
 * [sum T, 3D] as q | k | v, heads split D, scores = q k^T * q_scale). Recomputes each
 * head's probabilities from qkv instead of storing T x T per head and layer. Writes every
 * element of dqkv [sum T, 3D]. Returns -1 if out of memory, else 0. */
int kn_attention_batch_backward(float *dqkv, const float *dctx, const float *qkv, const int *lengths, int n, int D,
                                int heads, float q_scale);

/* Pooling over n packed sequences; x/dx are [sum T, D], y/dy are [n, D]. Every row of dx
 * is written (zeros where the pooling did not look). A sequence of length 0 has no rows. */
void kn_mean_pool_backward(float *dx, const float *dy, const int *lengths, int n, int D);
void kn_cls_pool_backward(float *dx, const float *dy, const int *lengths, int n, int D);

/* y = x * rsqrt(max(sum x^2, eps)) per row, as kn_l2_normalize (eps bounds the SUM of
 * squares). Takes the input x; where the clamp is active the scale is constant and
 * dx = dy * scale. dx may equal dy, not x. */
void kn_l2_normalize_backward(float *dx, const float *dy, const float *x, int rows, int cols, float eps);

/* cos(u, v) = u.v / max(|u| |v|, eps); torch.cosine_similarity (eps 1e-8) away from
 * zero vectors. */
#define KN_COSINE_EPS 1e-8
double kn_cosine_similarity(const float *u, const float *v, int D);
/* du, dv = dcos * d cos(u, v) / d(u, v). Either may be NULL. */
void kn_cosine_backward(float *du, float *dv, double dcos, const float *u, const float *v, int D);

/* SetFit's CosineSimilarityLoss: mean over pairs of (cos(u_i, v_i) - label_i)^2, u and v
 * [pairs, D]. Returns the loss and writes its gradients du, dv [pairs, D] (either may be
 * NULL, then it is just the loss). */
double kn_cosine_loss_backward(float *du, float *dv, const float *u, const float *v, const float *labels, int pairs,
                               int D);

#endif
