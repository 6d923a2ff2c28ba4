// What the signed-in caller (GET /api/v1/me) may do.

export function hasRole(me, role) {
  return !!(me && Array.isArray(me.roles) && me.roles.includes(role));
}
