build/release/binlog/client.o: binlog/client.c binlog/client.h \
 binlog/event.h common/err.h /usr/include/mariadb/errmsg.h \
 /usr/include/mariadb/mysql.h /usr/include/mariadb/mariadb_com.h \
 /usr/include/mariadb/mariadb_version.h /usr/include/mariadb/ma_list.h \
 /usr/include/mariadb/mariadb_ctype.h /usr/include/mariadb/mariadb_stmt.h \
 /usr/include/mariadb/mysqld_error.h common/bytes.h common/log.h \
 common/mem.h common/url.h
binlog/client.h:
binlog/event.h:
common/err.h:
/usr/include/mariadb/errmsg.h:
/usr/include/mariadb/mysql.h:
/usr/include/mariadb/mariadb_com.h:
/usr/include/mariadb/mariadb_version.h:
/usr/include/mariadb/ma_list.h:
/usr/include/mariadb/mariadb_ctype.h:
/usr/include/mariadb/mariadb_stmt.h:
/usr/include/mariadb/mysqld_error.h:
common/bytes.h:
common/log.h:
common/mem.h:
common/url.h:
