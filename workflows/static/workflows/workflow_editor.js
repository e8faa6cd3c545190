/* The workflow page: each step's editor follows its kind and action, the JSON toggle,
   the variable browser, Preview, step order (up/down), connections of the chosen workspace,
   and the voice answer only for call triggers. The server does the work
   (workflows/editor.py); this only asks it and puts the answer in place. */
(function () {
  'use strict';

  function ready(fn) {
    if (document.readyState !== 'loading') { fn(); } else { document.addEventListener('DOMContentLoaded', fn); }
  }

  ready(function () {
    var form = document.getElementById('workflow_form');
    if (!form) { return; }
    var lastTarget = {};

    function stepBoxes() {
      return Array.prototype.filter.call(
        document.querySelectorAll('#steps-group .inline-related'),
        function (box) { return !box.classList.contains('empty-form') && box.id.indexOf('empty') === -1; });
    }
    function boxOf(el) {
      var box = el.closest('.inline-related');
      return box && box.id && /^steps-\d+$/.test(box.id) ? box : null;
    }
    function field(box, name) { return form.elements[box.id + '-' + name]; }
    function row(box, name) { return box.querySelector('.form-row.field-' + name) || box.querySelector('.field-' + name); }
    function slot(box) { return box.querySelector('.tf-editor'); }

    function renumber() {
      stepBoxes().forEach(function (box, index) {
        var position = field(box, 'position');
        if (position) { position.value = index; }
      });
    }

    function call(box, op, extra) {
      renumber();
      var data = new FormData(form);
      var editor = slot(box);
      data.set('_editor_prefix', box.id);
      data.set('_editor_op', op);
      data.set('_object_id', editor ? editor.dataset.objectId : '');
      Object.keys(extra || {}).forEach(function (key) { data.set(key, extra[key]); });
      var url = editor ? editor.dataset.endpoint : form.dataset.stepEditor;
      return fetch(url, { method: 'POST', body: data, credentials: 'same-origin' })
        .then(function (response) { return response.json(); });
    }

    function replaceEditor(box, html) {
      var editor = slot(box);
      if (!editor) { return; }
      var holder = document.createElement('div');
      holder.innerHTML = html;
      editor.replaceWith(holder.firstElementChild);
      sync(box);
    }

    function showError(box, message) {
      var editor = slot(box);
      var target = editor ? editor.querySelector('.tf-preview') : null;
      if (target) { target.innerHTML = ''; var p = document.createElement('p'); p.className = 'errornote'; p.textContent = message; target.appendChild(p); }
      else { window.alert(message); }
    }

    function sync(box) {
      var kind = field(box, 'kind');
      var json = field(box, 'json_mode');
      var actionRow = row(box, 'action');
      if (actionRow && kind) { actionRow.style.display = kind.value === 'action' ? '' : 'none'; }
      var inJson = json && json.checked;
      var inputsRow = row(box, 'inputs');
      var editorRow = row(box, 'editor');
      if (inputsRow) { inputsRow.style.display = inJson ? '' : 'none'; }
      if (editorRow) { editorRow.style.display = inJson ? 'none' : ''; }
      var position = row(box, 'position');
      if (position) { position.style.display = 'none'; }
      addOrderButtons(box);
    }

    function addOrderButtons(box) {
      var header = box.querySelector('h3');
      if (!header || header.querySelector('.tf-order')) { return; }
      var span = document.createElement('span');
      span.className = 'tf-order';
      [['▲ up', 'up', 'Move this step up'], ['▼ down', 'down', 'Move this step down']].forEach(function (b) {
        var button = document.createElement('button');
        button.type = 'button'; button.className = 'tf-move'; button.dataset.dir = b[1];
        button.textContent = b[0]; button.title = b[2]; button.setAttribute('aria-label', b[2]);
        span.appendChild(button);
      });
      header.appendChild(span);
      // The step's title bar is the drag handle (dragging from a field would fight text selection).
      header.setAttribute('draggable', 'true');
      header.title = 'Drag to reorder, or use up/down';
      header.style.cursor = 'move';
    }

    function move(box, dir) {
      var boxes = stepBoxes();
      var index = boxes.indexOf(box);
      if (dir === 'up' && index > 0) { boxes[index - 1].before(box); }
      if (dir === 'down' && index < boxes.length - 1) { boxes[index + 1].after(box); }
      renumber();
    }

    // --- drag and drop of whole steps (up/down buttons do the same) ---
    var dragged = null;
    document.addEventListener('dragstart', function (event) {
      var handle = event.target.closest && event.target.closest('#steps-group .inline-related h3');
      var box = handle ? handle.closest('.inline-related') : null;
      if (!box) { return; }
      dragged = box;
      event.dataTransfer.effectAllowed = 'move';
    });
    document.addEventListener('dragover', function (event) {
      if (!dragged) { return; }
      var over = event.target.closest && event.target.closest('#steps-group .inline-related');
      if (over && over !== dragged && boxOf(over)) { event.preventDefault(); }
    });
    document.addEventListener('drop', function (event) {
      if (!dragged) { return; }
      var over = event.target.closest && event.target.closest('#steps-group .inline-related');
      if (over && over !== dragged && boxOf(over)) {
        event.preventDefault();
        var boxes = stepBoxes();
        if (boxes.indexOf(dragged) < boxes.indexOf(over)) { over.after(dragged); } else { over.before(dragged); }
        renumber();
      }
      dragged = null;
    });

    function stepNames() {
      return stepBoxes().map(function (box) { var n = field(box, 'name'); return n ? n.value.trim() : ''; })
        .filter(Boolean);
    }

    function refreshGoto(select) {
      var box = boxOf(select);
      var own = box && field(box, 'name') ? field(box, 'name').value.trim() : '';
      var current = select.value;
      var fixed = Array.prototype.filter.call(select.options, function (o) {
        return o.value === '' || o.value === 'next' || o.value === 'end';
      }).map(function (o) { return [o.value, o.textContent]; });
      select.innerHTML = '';
      var names = stepNames().filter(function (n) { return n !== own; });
      if (current && fixed.every(function (f) { return f[0] !== current; }) && names.indexOf(current) === -1) { names.push(current); }
      fixed.concat(names.map(function (n) { return [n, n]; })).forEach(function (pair) {
        var option = document.createElement('option');
        option.value = pair[0]; option.textContent = pair[1];
        select.appendChild(option);
      });
      select.value = current;
    }

    function insertVariable(box, name) {
      var target = lastTarget[box.id];
      if (!target || !box.contains(target)) { target = box.querySelector('.tf-editor .tf-var-target'); }
      if (!target) { return; }
      var text = '{{ ' + name + ' }}';
      var start = typeof target.selectionStart === 'number' ? target.selectionStart : target.value.length;
      var end = typeof target.selectionEnd === 'number' ? target.selectionEnd : target.value.length;
      target.value = target.value.slice(0, start) + text + target.value.slice(end);
      target.focus();
      target.selectionStart = target.selectionEnd = start + text.length;
      target.dispatchEvent(new Event('input', { bubbles: true }));
    }

    function addRow(button) {
      var rows = button.closest('.tf-rows');
      var prefix = rows.dataset.prefix;
      var total = rows.querySelector('input[name="' + prefix + '-TOTAL_FORMS"]');
      var index = parseInt(total.value, 10) || 0;
      var template = rows.querySelector('template.tf-row-template');
      var html = template.innerHTML.replace(/__prefix__/g, String(index));
      rows.querySelector('tbody').insertAdjacentHTML('beforeend', html);
      total.value = index + 1;
    }

    // --- workspace: connections of that workspace only ---
    function filterConnections() {
      var workspace = form.elements.workspace;
      var chosen = workspace ? workspace.value : '';
      if (!chosen) { return; }
      document.querySelectorAll('select[name$="-connection"]').forEach(function (select) {
        Array.prototype.forEach.call(select.options, function (option) {
          var ws = option.getAttribute('data-workspace');
          var hide = ws && ws !== chosen;
          option.hidden = !!hide; option.disabled = !!hide;
          if (hide && option.selected) { select.value = ''; }
        });
      });
    }

    // --- triggers: the voice answer only for call triggers ---
    function syncTrigger(box) {
      var kind = form.elements[box.id + '-kind'];
      var voice = box.querySelector('.field-voice_answer');
      var reply = box.querySelector('.field-reply_message');
      if (!kind) { return; }
      if (voice) { voice.style.display = kind.value === 'twilio/incoming-call' ? '' : 'none'; }
      if (reply) { reply.style.display = /incoming-(sms|whatsapp)$/.test(kind.value) || !kind.value ? '' : 'none'; }
    }
    function triggerBoxes() { return document.querySelectorAll('#triggers-group .inline-related'); }

    // --- events ---
    form.addEventListener('focusin', function (event) {
      var box = boxOf(event.target);
      if (box && event.target.classList.contains('tf-var-target')) { lastTarget[box.id] = event.target; }
      if (event.target.classList && event.target.classList.contains('tf-goto')) { refreshGoto(event.target); }
    });

    form.addEventListener('change', function (event) {
      var target = event.target;
      if (target.name === 'workspace') { filterConnections(); return; }
      var tbox = target.closest('#triggers-group .inline-related');
      if (tbox) { syncTrigger(tbox); return; }
      var box = boxOf(target);
      if (!box || !target.name) { return; }
      var name = target.name.slice(box.id.length + 1);
      var editor = slot(box);
      if (name === 'kind' || name === 'action' || name === 'connection') {
        sync(box);
        var json = field(box, 'json_mode');
        if (json && json.checked) { return; }
        call(box, 'render', { _from_kind: editor ? editor.dataset.kind : '', _from_action: editor ? editor.dataset.action : '' })
          .then(function (answer) { if (answer.html) { replaceEditor(box, answer.html); } else if (answer.error) { showError(box, answer.error); } });
      } else if (name === 'json_mode') {
        if (target.checked) {
          target.checked = false;  // ask while the editor is still what the server reads
          call(box, 'json').then(function (answer) {
            if (answer.error) { showError(box, answer.error); return; }
            field(box, 'inputs').value = answer.json;
            target.checked = true;
            sync(box);
          });
        } else {
          target.checked = true;
          call(box, 'form').then(function (answer) {
            if (answer.error) { window.alert(answer.error); return; }
            target.checked = false;
            replaceEditor(box, answer.html);
          });
        }
      }
    });

    form.addEventListener('click', function (event) {
      var target = event.target;
      var box = boxOf(target);
      if (target.classList.contains('tf-add-row')) { addRow(target); return; }
      if (!box) { return; }
      if (target.classList.contains('tf-var')) { insertVariable(box, target.dataset.var); }
      else if (target.classList.contains('tf-move')) { move(box, target.dataset.dir); }
      else if (target.classList.contains('tf-preview-btn')) {
        var editor = slot(box);
        var sample = editor.querySelector('.tf-sample');
        var out = editor.querySelector('.tf-preview');
        out.textContent = 'Rendering…';
        call(box, 'preview', { _sample: sample ? sample.value : '{}' }).then(function (answer) {
          if (answer.error) { showError(box, answer.error); return; }
          out.innerHTML = answer.html;
        });
      }
    });

    form.addEventListener('submit', renumber);

    document.addEventListener('formset:added', function (event) {
      var box = event.target;
      if (box && box.id && /^steps-\d+$/.test(box.id)) { sync(box); }
      if (box && box.id && /^triggers-\d+$/.test(box.id)) { syncTrigger(box); }
      filterConnections();
    });

    stepBoxes().forEach(sync);
    Array.prototype.forEach.call(triggerBoxes(), syncTrigger);
    filterConnections();
  });
})();
