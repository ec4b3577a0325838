// Kernel calls Swift cannot make itself: prctl(2) and syscall(2) are variadic. The capability
// calls act on the calling thread. Each returns 0 (or the value asked for) or -1 with errno set.
#ifndef NETNS_TRACER_PRIVILEGES_H
#define NETNS_TRACER_PRIVILEGES_H
#include <linux/capability.h>
#include <stdint.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

/// Sets the effective and permitted sets to `keep` (bit N = capability N), the inheritable set
/// to nothing.
static inline int netns_set_capabilities(unsigned long long keep) {
    struct __user_cap_header_struct header = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
    struct __user_cap_data_struct data[2] = {
        { .effective = (__u32)keep, .permitted = (__u32)keep, .inheritable = 0 },
        { .effective = (__u32)(keep >> 32), .permitted = (__u32)(keep >> 32), .inheritable = 0 },
    };
    return (int)syscall(SYS_capset, &header, data);
}

/// Whether `capability` is in the bounding set (1), not (0), or unknown to the kernel (-1).
static inline int netns_in_bounding_set(int capability) {
    return prctl(PR_CAPBSET_READ, capability, 0, 0, 0);
}

/// Removes `capability` from the bounding set (takes CAP_SETPCAP).
static inline int netns_drop_from_bounding_set(int capability) {
    return prctl(PR_CAPBSET_DROP, capability, 0, 0, 0);
}

/// Clears the ambient set and forbids gaining privileges through exec from now on.
static inline int netns_no_new_privileges(void) {
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0)
        return -1;
    return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
}

/// `struct ns_id_req` of listns(2), in its first published layout (32 bytes).
struct netns_ns_id_req {
    uint32_t size, spare;
    uint64_t ns_id;
    uint32_t ns_type, spare2;
    uint64_t user_ns_id;
};

/// listns(2) (6.19 and later; 470 in the generic syscall table, x86-64's and arm64's alike): up
/// to `count` ids of the active namespaces of `type` (a CLONE_NEW* bit) after the id `last`,
/// in order. Returns how many it wrote, or -1 with errno set (ENOSYS on older kernels).
static inline long netns_listns(uint64_t last, unsigned int type, uint64_t *ids, unsigned long count) {
    struct netns_ns_id_req request = { .size = sizeof(request), .ns_id = last, .ns_type = type };
    return syscall(470, &request, ids, count, 0);
}

#endif
