// Order statistics without sorting: Hoare's selection (Wirth's variant) on a scratch copy.
// Selecting ascending ranks one after another reuses the partition left by the previous
// one, so k ranks of n values cost a few passes over n, not a sort. Ensemble bands need
// 10 ranks of 10,000 paths per horizon.
#ifndef MP_SELECT_H
#define MP_SELECT_H

#include "mp_common.h"

// Rearranges a[lo..n-1] so that a[k] holds the value of rank k (0-based, k >= lo),
// with everything before k <= a[k] <= everything after. Scans are bounded, so a NaN
// (never passed by the host, which falls back to numpy) cannot run past the range.
inline float mp_select_rank(device float* a, int lo, int n, int k) {
    int l = lo;
    int r = n - 1;
    while (l < r) {
        float x = a[k];
        int i = l;
        int j = r;
        while (i <= j) {
            while (i < r && a[i] < x) i += 1;
            while (j > l && x < a[j]) j -= 1;
            if (i <= j) {
                float tmp = a[i];
                a[i] = a[j];
                a[j] = tmp;
                i += 1;
                j -= 1;
            }
        }
        if (j < k) l = i;
        if (k < i) r = j;
    }
    return a[k];
}

#endif
