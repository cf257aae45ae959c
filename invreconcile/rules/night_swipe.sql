-- id: night_swipe
-- category: abnormal_swipe
-- severity: medium
-- title_zh: 营业时间外（夜间）刷卡
-- title_en: Settlements at night, outside the store's opening hours
-- why_zh: 门店关门后或凌晨没有顾客，却出现医保结算，常见于店员集中代刷收来的医保卡、虚构购药。24小时门店在配置文件 [audit] stores_24h 中列出后不会报；其他门店按 open_min/close_min（默认07:00-23:00）判断。
-- why_zh: 同一晚只有一笔时为低风险（可能是关门前最后一位顾客跨过了钟点），同一晚多张卡时为中风险，很多张卡时为高风险。已冲销的结算不计。
-- why_en: A store that is closed has no customers; insured settlements after closing or before dawn are typical of staff swiping collected cards or of invented purchases. 24-hour stores listed in the config ([audit] stores_24h) are never reported; other stores are judged against open_min/close_min (default 07:00-23:00).
-- why_en: One settlement in a night is low severity (the last customer may have crossed the hour), several cards in one night medium, many cards high. Reversed settlements do not count.
-- why_zh: 如果一家门店在很多个夜晚（至少 habit_nights 晚且占营业天数的 habit_share 以上）都有营业时间外的结算，它很可能是没有配置的24小时门店：这时不逐晚报告，而是报一条低风险提示，请核实营业时间并在配置中列出。
-- message_zh: {store} 在营业时间（{hours}）外于 {first_ts} 至 {last_ts} 结算 {n} 笔，涉及 {n_psn} 张医保卡，医保基金及个人账户支付 {amount_fen} 元{note_zh}
-- why_en: A store with settlements outside its hours on many nights (at least habit_nights nights and habit_share of its trading days) is most likely a 24-hour store missing from the config: instead of one finding per night it gets one low-severity notice asking to check its hours and list it.
-- message_en: {store} settled {n} time(s) for {n_psn} card(s) outside its opening hours ({hours}) between {first_ts} and {last_ts}; insurance paid {amount_fen} yuan{note_en}
-- param grace_min = 0  # minutes after closing / before opening still treated as open
-- param_zh grace_min: 打烊后、开门前这么多分钟内仍视为营业
-- param high_cards = 5  # from this many different cards in one night the finding is high severity
-- param_zh high_cards: 一夜涉及这么多张不同医保卡记为高严重程度
-- param habit_nights = 10  # a store with night settlements on at least this many nights ...
-- param_zh habit_nights: 门店至少这么多个夜晚有夜间结算……
-- param habit_share = 0.25  # ... and on at least this share of its trading days trades at night routinely (24-hour store not configured)
-- param_zh habit_share: ……且占其营业日至少此比例时，视为惯常夜间营业（未配置为 24 小时门店）
WITH valid AS (
    -- only the columns used below: the windows copy every column of their input
    SELECT s.id, s.store, s.setl_id, s.psn_no, s.epoch, s.ts, s.day, s.tod_min, s.insurance_fen FROM v_settlement s
    WHERE s.tod_min IS NOT NULL
), hrs AS (
    SELECT v.*, COALESCE(h.open_min, :open_min) AS o_min, COALESCE(h.close_min, :close_min) AS c_min
    FROM valid v LEFT JOIN store_hours h ON h.store = v.store
), outside AS (
    SELECT hrs.*,
           CAST(((epoch + 28800 - o_min * 60) - (epoch + 28800 - o_min * 60) % 86400) / 86400 AS INTEGER) AS night
    FROM hrs
    WHERE NOT (CASE WHEN c_min > o_min
                    THEN tod_min >= o_min - :grace_min AND tod_min < c_min + :grace_min
                    ELSE tod_min >= o_min - :grace_min OR tod_min < c_min + :grace_min END)
), trading AS (
    SELECT store, COUNT(DISTINCT day) AS days FROM valid GROUP BY store
), nights AS (
    SELECT store, COUNT(DISTINCT night) AS nights FROM outside GROUP BY store
), habitual AS (
    SELECT n.store, n.nights, t.days FROM nights n JOIN trading t ON t.store = n.store
    WHERE n.nights >= :habit_nights AND n.nights >= :habit_share * t.days
), marked AS (
    SELECT o.*, CASE WHEN h.store IS NULL THEN o.night ELSE -1 END AS grp, h.nights AS h_nights, h.days AS h_days
    FROM outside o LEFT JOIN habitual h ON h.store = o.store
)
SELECT store, MIN(day) AS day_first, MAX(day) AS day_last, MIN(ts) AS first_ts, MAX(ts) AS last_ts,
       COUNT(*) AS n, COUNT(DISTINCT psn_no) AS n_psn,
       CASE WHEN grp = -1 THEN 'low'
            WHEN COUNT(DISTINCT psn_no) >= :high_cards THEN 'high'
            WHEN COUNT(*) >= 2 THEN 'medium' ELSE 'low' END AS severity,
       SUBSTR('0' || CAST((MIN(o_min) - MIN(o_min) % 60) / 60 AS INTEGER), -2) || ':' || SUBSTR('0' || CAST(MIN(o_min) % 60 AS INTEGER), -2)
         || '-' || SUBSTR('0' || CAST((MIN(c_min) - MIN(c_min) % 60) / 60 AS INTEGER), -2) || ':' || SUBSTR('0' || CAST(MIN(c_min) % 60 AS INTEGER), -2) AS hours,
       CASE WHEN grp = -1 THEN '；该店 ' || MAX(h_days) || ' 个营业日中有 ' || MAX(h_nights) || ' 晚在营业时间外结算，像是24小时门店：若是，请在配置 [audit] stores_24h 中列出，否则逐笔核实' ELSE '' END AS note_zh,
       CASE WHEN grp = -1 THEN '; the store settled outside its hours on ' || MAX(h_nights) || ' of ' || MAX(h_days) || ' trading days, like a 24-hour store: if it is one, list it in [audit] stores_24h, otherwise check each settlement' ELSE '' END AS note_en,
       SUM(COALESCE(insurance_fen, 0)) AS amount_fen,
       GROUP_CONCAT(setl_id) AS setl_ids, GROUP_CONCAT(DISTINCT psn_no) AS psn_nos,
       GROUP_CONCAT('settlements:' || id) AS evidence
FROM marked
GROUP BY store, grp
ORDER BY store, grp
