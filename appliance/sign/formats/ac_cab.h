/* Authenticode for Microsoft Cabinet files ([MS-CAB]): the signature
 * lives at the end of the cabinet, found through a 20-byte header reserve
 * (CFHEADER abReserve) that holds its offset and size, as signtool and
 * osslsigncode lay it out. Single cabinets only: a cabinet that is part
 * of a set (szCabinetPrev/szCabinetNext) is refused. */
#ifndef SIGNET_AC_CAB_H
#define SIGNET_AC_CAB_H

#include "authenticode.h"

extern const struct ac_format ac_cab_format;

#endif
