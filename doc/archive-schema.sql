-- MailCorral archive index (archive.c).  mailcorral creates this table
-- itself (CREATE TABLE IF NOT EXISTS) under the name archive_db_table; the
-- definition here is the same.  Column sizes are bytes (the display
-- subject: characters); longer values are cut in C before they are bound
-- and logged "index-truncated field=... reason=truncated".
CREATE TABLE IF NOT EXISTS `mailcorral_archive` (
  id          BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  msg_key     VARCHAR(128) CHARACTER SET ascii NOT NULL,  -- YYYY/MM/DD/<qid>-<hex>
  archived_at DATETIME NOT NULL,                          -- UTC
  queue_id    VARCHAR(64) CHARACTER SET ascii NOT NULL,   -- or NOQUEUE
  env_from    VARBINARY(512) NOT NULL,                    -- envelope sender
  env_to      VARBINARY(4096) NOT NULL,                   -- recipients, ", " between
  hdr_from    VARBINARY(998) NOT NULL,                    -- From:, unfolded
  subject_raw VARBINARY(998) NOT NULL,                    -- Subject: as received
  subject     VARCHAR(998) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
                                                          -- invalid UTF-8 -> U+FFFD
  message_id  VARBINARY(998) NOT NULL,
  hdr_date    VARBINARY(255) NOT NULL,
  size        BIGINT UNSIGNED NOT NULL,                   -- body bytes
  action      VARCHAR(32) CHARACTER SET ascii NOT NULL,   -- accept, tag, corral, ...
  spam        VARBINARY(160) NOT NULL,                    -- as in the log line
  virus       VARBINARY(192) NOT NULL,
  path        VARBINARY(4096) NOT NULL,                   -- the archive file
  UNIQUE KEY msg_key (msg_key),
  KEY archived_at (archived_at),
  KEY queue_id (queue_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
