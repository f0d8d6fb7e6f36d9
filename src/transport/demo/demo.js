// wampd demo page: subscribes to the demo topics with autobahn-browser and shows events live.
// Everything from the network is written with textContent, never as HTML.
//
// Nothing is lost across a reconnect: each notification carries its place in the topic's history
// (EVENT Details.epoch and Details.offset); after a reconnect, or a reload of the page, it
// subscribes with recover_epoch/recover_offset from the last one it showed, and wampd sends the
// ones it missed first. When the history no longer holds them, wampd says so
// (wampd.error.recovery_failed) and the page tells the user.
(function () {
  'use strict';
  var root = document.getElementById('wampd-demo');
  var status = document.getElementById('status');
  var clock = document.getElementById('time');
  var list = document.getElementById('notifications');
  var realm = root.getAttribute('data-realm') || 'realm1';

  // The WebSocket lives where the page is: served at /ws/ behind nginx's "location /ws", the
  // socket is wss://host/ws; served by wampd itself at /, it is ws://host:port/.
  var dir = location.pathname.replace(/[^\/]*$/, '');
  var path = dir.length > 1 ? dir.replace(/\/$/, '') : '/';
  var url = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + path;

  function setStatus(state, text) {
    status.setAttribute('data-state', state);
    status.textContent = text;
  }

  function describe(args, kwargs) {
    args = args || [];
    kwargs = kwargs || {};
    if (args.length === 1 && typeof args[0] === 'string' && Object.keys(kwargs).length === 0) {
      return args[0];
    }
    return JSON.stringify(Object.keys(kwargs).length ? { args: args, kwargs: kwargs } : args);
  }

  var TOPIC = 'wampd.demo.notifications';
  var EVENT = 36;
  var KEY = 'wampd-demo-position:' + realm;
  var position = null;
  try {
    position = JSON.parse(window.sessionStorage.getItem(KEY) || 'null');
  } catch (e) {
    position = null;
  }
  // The details of the EVENT being handled: autobahn-browser hands handlers only some of them.
  var details = null;

  function remember(next) {
    position = next;
    try {
      window.sessionStorage.setItem(KEY, JSON.stringify(next));
    } catch (e) {
      // storage disabled: recovery still works across reconnects, not across reloads
    }
  }

  function show(text, kind) {
    var item = document.createElement('li');
    if (kind) {
      item.setAttribute('data-kind', kind);
    }
    item.textContent = new Date().toLocaleTimeString() + '  ' + text;
    list.insertBefore(item, list.firstChild);
    while (list.children.length > 50) {
      list.removeChild(list.lastChild);
    }
  }

  function onNotification(args, kwargs) {
    if (details && typeof details.epoch === 'string' && typeof details.offset === 'number') {
      remember({ epoch: details.epoch, offset: details.offset });
    }
    show(describe(args, kwargs));
  }

  // Subscribes from the last position shown, if any. A refused recovery is reported, and the
  // page goes on from where the stream is now.
  function subscribeNotifications(session, retried) {
    var options = position && !retried
      ? { recover_epoch: position.epoch, recover_offset: position.offset }
      : undefined;
    return session.subscribe(TOPIC, onNotification, options).then(null, function (err) {
      if (retried || !err || (err.error !== 'wampd.error.recovery_failed' && err.error !== 'wamp.error.invalid_argument')) {
        throw err;
      }
      if (err.error === 'wampd.error.recovery_failed') {
        show('some notifications were missed while disconnected: ' + String((err.args || [])[0]), 'missed');
        var now = err.kwargs || {};
        remember(typeof now.epoch === 'string' ? { epoch: now.epoch, offset: now.offset } : null);
        if (position) {
          return session.subscribe(TOPIC, onNotification, {
            recover_epoch: position.epoch,
            recover_offset: position.offset,
          });
        }
      }
      return subscribeNotifications(session, true);
    });
  }

  if (typeof autobahn === 'undefined') {
    setStatus('closed', 'autobahn-browser did not load (see WEBSOCKET_DEMO_AUTOBAHN_URL)');
    return;
  }

  var connection = new autobahn.Connection({ url: url, realm: realm, max_retry_delay: 5 });
  connection.onopen = function (session) {
    setStatus('subscribing', 'connected to ' + url + '; subscribing');
    var map = session._MESSAGE_MAP;
    var processEvent = map && map[EVENT];
    if (typeof processEvent === 'function') {
      map[EVENT] = function (msg) {
        details = msg[3] || null;
        try {
          processEvent(msg);
        } finally {
          details = null;
        }
      };
    }
    var resumed = position ? ', resumed after offset ' + position.offset : '';
    var time = session.subscribe('wampd.demo.time', function (args) {
      clock.textContent = String((args || [])[0]);
    });
    var notifications = subscribeNotifications(session, false);
    Promise.all([time, notifications]).then(function () {
      setStatus('connected', 'connected to ' + url + ', realm ' + realm + ', session ' + session.id + resumed);
    }, function (err) {
      setStatus('closed', 'subscribing failed: ' + (err && err.error ? err.error : String(err)));
    });
  };
  connection.onclose = function (reason) {
    setStatus('closed', 'disconnected (' + reason + '); retrying');
  };
  connection.open();
}());
