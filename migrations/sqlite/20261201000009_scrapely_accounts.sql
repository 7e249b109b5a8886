-- Issue 11, item 9: the Scrapely accounts Starling has seen, from every `GET
-- /accounts` and every `account_paused` that names both id and handle, so that a
-- pause naming only the account id holds the DMs and tweets of its handle.
CREATE TABLE scrapely_accounts (
    account_id TEXT    PRIMARY KEY,
    handle     TEXT    NOT NULL,                   -- lowercased, without @
    seen_at    INTEGER NOT NULL                    -- Unix ms
);
CREATE INDEX scrapely_accounts_handle ON scrapely_accounts (handle);
