// Capability calls Swift cannot make itself: prctl(2) and syscall(2) are variadic.
// Each returns 0 (or the value asked for) or -1 with errno set. All act on the calling thread.
#ifndef NETNS_TRACER_PRIVILEGES_H
#define NETNS_TRACER_PRIVILEGES_H
#include <linux/capability.h>
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

#endif
