/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * What every probe set shares, one header per role, in order:
 *  - netns_types.bpf.h  the kernel types read (CO-RE, no vmlinux.h) and the registers;
 *  - netns_maps.bpf.h   the maps and the failure counters;
 *  - netns_read.bpf.h   reading a namespace on any kernel from 5.10 on, emitting events;
 *  - netns_track.bpf.h  following each namespace from creation to free, and the scans.
 */
#ifndef NETNS_CORE_BPF_H
#define NETNS_CORE_BPF_H

#include "netns_track.bpf.h"

#endif /* NETNS_CORE_BPF_H */
