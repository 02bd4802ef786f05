/* tma.cu - tensor maps of the bf16 KV cache for the tensor memory accelerator (Hopper's copy
 * engine for tiles), which the prefill attention (flash_wg.cu) makes per call. The driver's
 * encoder is reached through the runtime, so the build links no libcuda. */
#include "cuda/common.cuh"

typedef CUresult (*tma_encode_fn)(CUtensorMap *, CUtensorMapDataType, cuuint32_t, void *,
                                  const cuuint64_t *, const cuuint64_t *, const cuuint32_t *,
                                  const cuuint32_t *, CUtensorMapInterleave, CUtensorMapSwizzle,
                                  CUtensorMapL2promotion, CUtensorMapFloatOOBfill);

/* the driver's encoder, through the runtime (no link against libcuda); NULL when the driver
 * has none */
static tma_encode_fn tma_encoder(void) {
    static tma_encode_fn fn;
    static int tried;
    if (!tried) {
        tried = 1;
        void *f = NULL;
        cudaDriverEntryPointQueryResult qr = cudaDriverEntryPointSymbolNotFound;
        if (cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &f, 12000,
                                             cudaEnableDefault, &qr) == cudaSuccess &&
            qr == cudaDriverEntryPointSuccess)
            fn = (tma_encode_fn)f;
        cudaGetLastError();
    }
    return fn;
}

int cu_tmap_kv(CUtensorMap *m, const void *base, int hd, int rows, int hkv, size_t hs,
               int box_rows) {
    const tma_encode_fn enc = tma_encoder();
    if (!enc || rows <= 0 || hkv <= 0) return 0;
    const cuuint64_t dims[3] = {(cuuint64_t)hd, (cuuint64_t)rows, (cuuint64_t)hkv};
    const cuuint64_t strides[2] = {(cuuint64_t)hd * 2, (cuuint64_t)hs * 2};
    const cuuint32_t box[3] = {64, (cuuint32_t)box_rows, 1}, estr[3] = {1, 1, 1};
    return enc(m, CU_TENSOR_MAP_DATA_TYPE_BFLOAT16, 3, (void *)base, dims, strides, box, estr,
               CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B,
               CU_TENSOR_MAP_L2_PROMOTION_L2_256B,
               CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE) == CUDA_SUCCESS;
}
